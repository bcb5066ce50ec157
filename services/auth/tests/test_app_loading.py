"""What building the served app loads, and the `flask db` commands it still offers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import sqlalchemy
from flask import Flask

from auth_service.extensions import db


def test_a_served_app_leaves_alembic_unloaded(tmp_path: Path, keys_dir: Path) -> None:
    """Workers never migrate: building the app imports neither Flask-Migrate nor alembic
    (about 12 MiB resident in each worker)."""
    settings = {
        "APP_ENV": "testing",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'served.sqlite3'}",
        "JWT_KEYS_DIR": str(keys_dir),
    }
    program = (
        f"import sys; from auth_service import create_app; create_app({settings!r}); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'flask_migrate')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=60
    )
    assert loaded.stdout.strip() == "[]", loaded.stdout


def test_the_flask_db_commands_downgrade_and_upgrade_the_database(app: Flask) -> None:
    """The `db` commands are still the app's: the stand-in hands over to Flask-Migrate."""
    runner = app.test_cli_runner()

    def tables() -> set[str]:
        with app.app_context():
            return set(sqlalchemy.inspect(db.engine).get_table_names())

    assert runner.invoke(args=["db", "downgrade", "base"]).exit_code == 0
    assert "accounts" not in tables()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    assert {"accounts", "sessions", "oauth_clients"} <= tables()
