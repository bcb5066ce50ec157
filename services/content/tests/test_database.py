"""SQLite under several writer processes: WAL, a busy timeout, and no "database is locked"."""

from __future__ import annotations

import multiprocessing
import os

from sqlalchemy import text

from content_service import create_app
from content_service.database import normalize_database_url
from content_service.extensions import db

WRITERS = 4
WRITES_EACH = 25


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path, redis_server, tokens):
    from conftest import make_app

    app = make_app(f"sqlite:///{tmp_path / 'c.sqlite3'}", redis_server, tokens)
    with app.app_context():
        with db.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        db.engine.dispose()


def test_postgresql_urls_use_psycopg_3():
    assert normalize_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_database_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_database_url("sqlite:///x") == "sqlite:///x"


def _post_items(database_url: str, redis_url: str, jwks: dict, token: str, start) -> list[int]:
    """One writer process: its own app and connection pool, like a gunicorn worker."""
    app = create_app(
        {
            "APP_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "REDIS_URL": redis_url,
            "JWKS_SOURCE": lambda: jwks,
            "LOG_LEVEL": "WARNING",
        }
    )
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    start.wait()
    statuses = []
    for n in range(WRITES_EACH):
        key = {"Idempotency-Key": f"{os.getpid()}-{n}"}
        response = client.post(
            "/api/items", json={"name": f"n{n}", "price": 1}, headers=headers | key
        )
        statuses.append(response.status_code)
    return statuses


def test_concurrent_writer_processes_never_see_database_is_locked(app, tokens):
    context = multiprocessing.get_context("spawn")
    start = context.Manager().Event()
    args = (
        app.config["SQLALCHEMY_DATABASE_URI"],
        app.config["REDIS_URL"],
        tokens.jwks(),
        tokens.token(1, "alice"),
        start,
    )
    with context.Pool(WRITERS) as pool:
        results = [pool.apply_async(_post_items, args) for _ in range(WRITERS)]
        start.set()
        statuses = [status for result in results for status in result.get(timeout=120)]
    assert statuses == [201] * WRITERS * WRITES_EACH
    with app.app_context():
        count = db.session.execute(text("SELECT COUNT(*) FROM items")).scalar()
        kept = db.session.execute(text("SELECT total FROM row_counts WHERE table_name = 'items'"))
        assert count == kept.scalar() == WRITERS * WRITES_EACH
