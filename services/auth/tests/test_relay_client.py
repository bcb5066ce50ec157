"""The outbox relay as a registered OAuth client: its token comes from the token endpoint.

Auth is served over real HTTP here (werkzeug), and a small stand-in plays content, as in
test_outbox; tests/e2e/test_auth_events.py runs the same path through the real stack.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from conftest import PASSWORD, free_port
from test_outbox import Receiver, events, make_due

from auth_service.config import load_config
from auth_service.extensions import db
from auth_service.oauth_models import OAuthClient
from auth_service.outbox import outbox_relay
from auth_service.relay_client import CredentialUnavailable, RelayCredential, ensure_relay_client
from shared.config import DEV_SECRET, ConfigError
from shared.tokens import JwksCache, TokenVerifier

SECRET = "relay-secret-" + "x" * 32


class CountingTokenRequests:
    """WSGI middleware: counts the requests to the token endpoint, passes everything on."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.count = 0

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        if environ["PATH_INFO"] == "/auth/token":
            self.count += 1
        return self.app(environ, start_response)


@pytest.fixture
def receiver():
    running = Receiver(free_port())
    yield running
    running.stop()


@pytest.fixture
def stack(make_app, serve, receiver):
    """An app whose relay asks a served auth (counted) for tokens and sends to the stand-in."""
    port = free_port()
    settings = {
        "AUTH_SERVICE_URL": f"http://127.0.0.1:{port}",
        "CONTENT_SERVICE_URL": f"http://127.0.0.1:{receiver.port}",
        "RELAY_CLIENT_SECRET": SECRET,
        "UPSTREAM_CONNECT_TIMEOUT": 0.5,
        "UPSTREAM_READ_TIMEOUT": 2,
    }
    counting = CountingTokenRequests(make_app(**settings))
    serve(counting, port)
    return make_app(**settings), counting, settings


def relay_clients(app) -> list[OAuthClient]:
    with app.app_context():
        return list(db.session.execute(db.select(OAuthClient)).scalars())


def test_the_relay_client_is_registered_once_with_only_a_hash_of_its_secret(make_app):
    app = make_app(RELAY_CLIENT_SECRET=SECRET)
    with app.app_context():
        ensure_relay_client(app)
        ensure_relay_client(app)  # every worker does it at start
    (client,) = relay_clients(app)
    assert client.client_id == "auth-relay"
    assert not client.public
    assert client.secret_hash == hashlib.sha256(SECRET.encode()).hexdigest()
    assert SECRET not in json.dumps(client.to_public())
    assert (client.grant_types, client.scope) == (["client_credentials"], "events:write")


def test_a_rotated_secret_replaces_the_old_one(make_app):
    app = make_app(RELAY_CLIENT_SECRET=SECRET)
    with app.app_context():
        ensure_relay_client(app)
    rotated = make_app(RELAY_CLIENT_SECRET="rotated-" + "y" * 32)
    client = rotated.test_client()
    old = client.post(
        "/auth/token", data={"grant_type": "client_credentials"}, auth=("auth-relay", SECRET)
    )  # the first request registers the client with the new secret
    assert old.status_code == 401
    assert old.get_json()["error"] == "invalid_client"
    new = client.post(
        "/auth/token",
        data={"grant_type": "client_credentials"},
        auth=("auth-relay", "rotated-" + "y" * 32),
    )
    assert new.status_code == 200, new.get_json()
    assert new.get_json()["scope"] == "events:write"


def test_the_token_comes_from_the_endpoint_once_and_is_reused_until_near_expiry(stack):
    app, counting, _ = stack
    credential = RelayCredential(app)
    first = credential.access_token()
    assert credential.access_token() == first
    assert counting.count == 1
    with app.app_context():
        key_set = app.extensions["key_store"].ring().jwks()
    claims = TokenVerifier(
        JwksCache(lambda: key_set), app.config["JWT_ISSUER"], "flask-suite"
    ).verify(first)
    assert (claims["sub"], claims["client_id"], claims["scope"]) == (
        "auth-relay",
        "auth-relay",
        "events:write",
    )
    # Within the renewal margin of its expiry, the cached token is replaced.
    credential.session.token["expires_at"] = int(time.time()) + 10
    assert credential.access_token() != first
    assert counting.count == 2


def test_events_wait_while_auth_is_away_and_go_once_it_is_back(stack, make_app, serve, receiver):
    _, _, settings = stack
    receiver.start()
    dead = free_port()
    away = make_app(**{**settings, "AUTH_SERVICE_URL": f"http://127.0.0.1:{dead}"})
    with away.app_context():
        away.test_client().post(
            "/auth/register",
            json={"username": "alice", "email": "alice@example.com", "password": PASSWORD},
        )
        assert outbox_relay().deliver_due() == 0
    (event,) = events(away)
    assert (event.attempts, event.last_error) == (1, "token endpoint: ConnectionError")
    assert event.delivered_at is None and event.failed_at is None
    assert receiver.received == []  # nothing went out without a token

    serve(away, dead)  # auth answers again
    make_due(away)
    with away.app_context():
        assert outbox_relay().deliver_due() == 1
    assert receiver.types == ["account.created"]


def test_an_unavailable_token_endpoint_is_not_taken_for_a_token(make_app):
    answering_503 = _server_answering(503, {"type": "about:blank", "status": 503})
    port = answering_503.server_address[1]
    app = make_app(AUTH_SERVICE_URL=f"http://127.0.0.1:{port}", RELAY_CLIENT_SECRET=SECRET)
    credential = RelayCredential(app)
    try:
        with pytest.raises(CredentialUnavailable, match="HTTP 503"):
            credential.access_token()
    finally:
        answering_503.shutdown()
        answering_503.server_close()
    assert not credential.session.token


def test_a_wrong_secret_is_retried_later_never_marked_failed(stack, make_app, receiver):
    app, _, settings = stack
    receiver.start()
    wrong = make_app(**{**settings, "RELAY_CLIENT_SECRET": "wrong-" + "z" * 32})
    with wrong.app_context():
        wrong.test_client().post(
            "/auth/register",
            json={"username": "carol", "email": "carol@example.com", "password": PASSWORD},
        )
        # The served auth registered the relay with the right secret on its first request.
        app.test_client().get("/healthz")
        assert outbox_relay().deliver_due() == 0
    (event,) = events(wrong)
    assert (event.last_error, event.failed_at) == ("token endpoint: invalid_client", None)
    assert receiver.received == []


@pytest.mark.parametrize("status", [401, 403])
def test_content_refusing_the_token_drops_it_and_keeps_the_event(stack, receiver, status):
    app, counting, _ = stack
    receiver.start()
    receiver.status = status
    with app.app_context():
        app.test_client().post(
            "/auth/register",
            json={"username": "bob", "email": "bob@example.com", "password": PASSWORD},
        )
        assert outbox_relay().deliver_due() == 0
        (event,) = events(app)
        assert event.failed_at is None and event.last_error == f"HTTP {status}"
        receiver.status = 204
        make_due(app)
        assert outbox_relay().deliver_due() == 1
    assert counting.count == 2  # the refused token was not presented again


def test_production_refuses_a_default_or_missing_relay_secret():
    settings = {
        "APP_ENV": "production",
        "SECRET_KEY": "s" * 40,
        "TOTP_ENCRYPTION_KEY": "o" * 40,
        "SMTP_URL": "smtps://mx.example.com",
        "PUBLIC_BASE_URL": "https://app.example.com",
        "JWT_ISSUER": "https://app.example.com/auth",
    }
    for secret in (None, DEV_SECRET, "short"):
        given = settings if secret is None else {**settings, "RELAY_CLIENT_SECRET": secret}
        with pytest.raises(ConfigError, match="RELAY_CLIENT_SECRET"):
            load_config(given)
    assert load_config({**settings, "RELAY_CLIENT_SECRET": SECRET})["RELAY_CLIENT_SECRET"]


def _server_answering(status: int, body: dict) -> ThreadingHTTPServer:
    payload = json.dumps(body).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            self.send_header("Content-Type", "application/problem+json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(
        target=server.serve_forever, args=(0.02,), daemon=True
    ).start()  # quick shutdown()
    return server
