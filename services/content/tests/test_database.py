"""SQLite under several writer processes: WAL, a busy timeout, and no "database is locked"."""

from __future__ import annotations

import multiprocessing
import os

from sqlalchemy import select, text

from content_service import counters, create_app
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
        kept = db.session.scalar(select(counters.total_of("items")))
        assert count == kept == WRITERS * WRITES_EACH


def test_a_connection_lost_after_the_answer_does_not_turn_it_into_a_500(
    tmp_path, redis_server, tokens, monkeypatch
):
    """The database going away between the query and the session's end (a restart under
    load) must leave the finished answer alone, and the next request must work."""
    from conftest import make_app
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import Session

    app = make_app(f"sqlite:///{tmp_path / 'c.sqlite3'}", redis_server, tokens)
    with app.app_context():
        db.create_all()
    client = app.test_client()
    real_close = Session.close
    failures = ["server closed the connection unexpectedly"]

    def close_on_a_dead_connection(session):
        if failures:
            raise OperationalError("ROLLBACK", {}, Exception(failures.pop()))
        return real_close(session)

    monkeypatch.setattr(Session, "close", close_on_a_dead_connection)
    assert client.get("/api/items").status_code == 200
    assert failures == []  # the teardown did meet the failure
    assert client.get("/api/items").status_code == 200
