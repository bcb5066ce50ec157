"""Every migration upgrades and downgrades cleanly, keeps data, and ends where the models are."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from content_service import create_app
from content_service.extensions import db
from shared.migrations import bind_migrations

INITIAL = "babf2057ea7f"
VERSION_TABLE = "alembic_version_content"


@pytest.fixture
def migrations_app(tmp_path, shared_database) -> Iterator[Flask]:
    url = shared_database or f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url, "LOG_LEVEL": "WARNING"})
    bind_migrations(app, db)
    with app.app_context():
        downgrade(revision="base")
        yield app
        upgrade()  # leave a shared database as the other tests expect it
        db.engine.dispose()


def _revisions(app: Flask) -> list[str]:
    script = ScriptDirectory(app.config["MIGRATIONS_DIR"])
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def _tables() -> set[str]:
    return set(inspect(db.engine).get_table_names()) - {VERSION_TABLE}


def test_each_revision_upgrades_downgrades_and_upgrades_again(migrations_app):
    revisions = _revisions(migrations_app)
    assert revisions[0] == INITIAL
    previous = "base"
    for revision in revisions:
        upgrade(revision=revision)
        after_upgrade = _tables()
        downgrade(revision=previous)
        upgrade(revision=revision)
        assert _tables() == after_upgrade, revision
        previous = revision
    downgrade(revision="base")
    assert _tables() == set()
    upgrade()
    with db.engine.connect() as conn:
        differences = compare_metadata(
            MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}), db.metadata
        )
    assert differences == []


def test_existing_items_survive_and_are_counted(migrations_app):
    upgrade(revision=INITIAL)
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO items (name, description, price, owner_id, created_at, updated_at) "
                "VALUES ('old', '', 5, 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        )
    upgrade()
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT name, version FROM items")).one() == ("old", 1)
        totals = dict(conn.execute(text("SELECT table_name, total FROM row_counts")).all())
    assert totals == {"users": 0, "posts": 0, "items": 1}
    downgrade(revision=INITIAL)
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM items")).scalar() == "old"
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM items"))


def test_an_existing_database_stops_reusing_ids(migrations_app):
    """Rows made before the AUTOINCREMENT rebuild keep their ids; a deleted id never returns."""
    upgrade(revision="c41d7e2f9a10")
    insert = text(
        "INSERT INTO items (name, description, price, owner_id, created_at, updated_at, version)"
        " VALUES ('x', '', 1, 1, '2026-01-01', '2026-01-01', 1)"
    )
    with db.engine.begin() as conn:
        for _ in range(3):
            conn.execute(insert)
    upgrade()
    with db.engine.begin() as conn:
        assert conn.execute(text("SELECT id FROM items ORDER BY id")).scalars().all() == [1, 2, 3]
        conn.execute(text("DELETE FROM items WHERE id = 3"))
        conn.execute(insert)
        assert conn.execute(text("SELECT max(id) FROM items")).scalar_one() == 4


def test_flask_db_upgrade_migrates_a_new_database(tmp_path):
    """`flask db upgrade` through the app's own command line: the stand-in hands over to
    Flask-Migrate's group, options and all."""
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url, "LOG_LEVEL": "WARNING"})
    runner = app.test_cli_runner()

    listed = runner.invoke(args=["db", "--help"])
    assert listed.exit_code == 0 and "upgrade" in listed.output
    result = runner.invoke(args=["db", "upgrade"])

    assert result.exit_code == 0, result.output
    with app.app_context():
        assert {"items", "posts", "users", "row_counts"} <= _tables()
        db.engine.dispose()
