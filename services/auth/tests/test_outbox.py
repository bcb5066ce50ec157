"""The outbox: events written with the change, relayed to a receiver with retries and back-off.

A small local HTTP server stands in for content's /internal/events here; the end-to-end
test (tests/e2e/test_auth_events.py) uses the real content service.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import PASSWORD, bearer, free_port

from auth_service.extensions import db
from auth_service.models import OutboxEvent
from auth_service.outbox import outbox_relay
from shared.tokens import JwksCache, TokenVerifier


class Receiver:
    """Records what it is sent and answers with `status`."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.status = 204
        self.received: list[tuple[dict, dict]] = []
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                body = json.loads(self.rfile.read(length))
                receiver.received.append((dict(self.headers), {"path": self.path, **body}))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(
            target=self.server.serve_forever, args=(0.02,), daemon=True
        ).start()  # quick shutdown()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def types(self) -> list[str]:
        return [body["type"] for _, body in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver(free_port())
    yield running
    running.stop()


@pytest.fixture
def relay_settings(receiver, make_app, serve):
    """Where the relay sends events (the stand-in) and asks for its token (auth over HTTP).

    The token endpoint is served by an app of this test's own database, as another auth
    worker would serve it.
    """
    port = free_port()
    settings = {
        "AUTH_SERVICE_URL": f"http://127.0.0.1:{port}",
        "CONTENT_SERVICE_URL": f"http://127.0.0.1:{receiver.port}",
        "UPSTREAM_CONNECT_TIMEOUT": 0.5,
        "UPSTREAM_READ_TIMEOUT": 2,
    }
    serve(make_app(**settings), port)
    return settings


@pytest.fixture
def app(make_app, relay_settings, redis_server):
    redis_server.flushall()
    return make_app(**relay_settings, OUTBOX_BACKOFF_SECONDS=0.01)


def events(app) -> list[OutboxEvent]:
    with app.app_context():
        query = db.select(OutboxEvent).where(OutboxEvent.channel == "content")
        return list(db.session.execute(query.order_by(OutboxEvent.seq)).scalars())


def make_due(app) -> None:
    with app.app_context():
        db.session.execute(db.update(OutboxEvent).values(next_attempt_at=0))
        db.session.commit()


def test_register_writes_the_event_in_the_same_transaction(app, client, register):
    account = register()
    (event,) = events(app)
    assert event.type == "account.created"
    assert event.body["data"] == {
        "account_id": account["id"],
        "username": "alice",
        "email": "alice@example.com",
        "roles": [],
    }
    # A registration that fails writes no event either.
    client.post(
        "/auth/register",
        json={"username": "ALICE", "email": "x@example.com", "password": PASSWORD},
    )
    assert len(events(app)) == 1


def test_delivery_carries_the_contract_body_and_the_relays_own_token(app, receiver, register):
    receiver.start()
    account = register()
    with app.app_context():
        assert outbox_relay().deliver_due() == 1
    (headers, body) = receiver.received[0]
    assert body["path"] == "/internal/events"
    assert set(body) == {"path", "id", "type", "occurred_at", "data"}
    assert body["type"] == "account.created"
    assert body["data"]["account_id"] == account["id"]
    assert body["occurred_at"].endswith("Z")
    token = headers["Authorization"].removeprefix("Bearer ")
    with app.app_context():
        key_set = app.extensions["key_store"].ring().jwks()
    verifier = TokenVerifier(
        JwksCache(lambda: key_set), "http://127.0.0.1:8000/auth", "flask-suite"
    )
    claims = verifier.verify(token)
    assert (claims["sub"], claims["client_id"]) == ("auth-relay", "auth-relay")
    assert claims["scope"] == "events:write"
    assert claims["exp"] - claims["iat"] == app.config["ACCESS_TOKEN_MINUTES"] * 60
    assert events(app)[0].delivered_at is not None
    with app.app_context():
        assert outbox_relay().deliver_due() == 0  # delivered once, not again


def test_nothing_is_lost_while_the_receiver_is_down(app, receiver, register, client, login):
    register()
    headers = bearer(login()["access_token"])
    client.delete("/auth/me", json={"password": PASSWORD}, headers=headers)
    relay = app.extensions["auth_outbox_relay"]
    relay.deliver_due()  # connection refused
    first = events(app)
    assert [e.attempts for e in first] == [1, 0]  # the delete waits behind the create
    assert first[0].next_attempt_at > time.time() - 1
    assert first[0].last_error == "ConnectionError"

    receiver.start()
    receiver.status = 503  # up, but failing
    make_due(app)
    relay.deliver_due()
    assert events(app)[0].attempts == 2

    receiver.status = 204
    make_due(app)
    relay.deliver_due()
    make_due(app)
    relay.deliver_due()
    assert receiver.types == ["account.created", "account.created", "account.deleted"]
    assert all(e.delivered_at is not None for e in events(app))


def test_back_off_grows_exponentially_up_to_the_cap(app, register):
    app.config.update(OUTBOX_BACKOFF_SECONDS=2, OUTBOX_MAX_BACKOFF_SECONDS=10)
    register()
    relay = app.extensions["auth_outbox_relay"]
    delays = []
    for _ in range(5):
        make_due(app)
        before = time.time()
        relay.deliver_due()
        delays.append(events(app)[0].next_attempt_at - before)
    for delay, expected in zip(delays, [2, 4, 8, 10, 10], strict=True):
        assert expected * 0.75 <= delay <= expected * 1.25 + 1


def test_a_refused_event_is_not_retried(app, receiver, register):
    receiver.start()
    receiver.status = 422
    register()
    relay = app.extensions["auth_outbox_relay"]
    assert relay.deliver_due() == 1
    make_due(app)
    assert relay.deliver_due() == 0
    (event,) = events(app)
    assert event.failed_at is not None and event.last_error == "HTTP 422"
    assert len(receiver.received) == 1


@pytest.mark.parametrize("status", [404, 429, 500, 503])
def test_not_deployed_busy_or_failing_receivers_are_retried(app, receiver, register, status):
    receiver.start()
    receiver.status = status
    register()
    relay = app.extensions["auth_outbox_relay"]
    assert relay.deliver_due() == 0
    receiver.status = 200
    make_due(app)
    assert relay.deliver_due() == 1
    assert len(receiver.received) == 2


def test_two_relays_never_send_one_event_twice_at_once(
    app, make_app, relay_settings, receiver, register
):
    receiver.start()
    for n in range(10):
        register(f"user{n}")
    other_worker = make_app(**relay_settings)
    relays = [app.extensions["auth_outbox_relay"], other_worker.extensions["auth_outbox_relay"]]
    threads = [threading.Thread(target=r.deliver_due) for r in relays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [body["id"] for _, body in receiver.received]
    assert len(ids) == len(set(ids)) == 10


def test_the_background_relay_delivers_soon_after_the_change(make_app, relay_settings, receiver):
    receiver.start()
    app = make_app(
        **relay_settings,
        OUTBOX_RELAY_ENABLED=True,
        OUTBOX_POLL_SECONDS=5,  # long: the commit itself must wake the relay
    )
    client = app.test_client()
    try:
        response = client.post(
            "/auth/register",
            json={"username": "quick", "email": "quick@example.com", "password": PASSWORD},
        )
        assert response.status_code == 201
        deadline = time.monotonic() + 10  # generous: the machine is shared
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.02)
        assert receiver.types == ["account.created"]
    finally:
        app.extensions["auth_outbox_relay"].stop()
