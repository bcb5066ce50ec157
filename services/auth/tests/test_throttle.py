"""Login throttling per account-and-address and per address; Redis down fails closed."""

from __future__ import annotations

import pytest
from conftest import PASSWORD, bearer
from test_verification import verify

from auth_service import sessions


def attempt(client, username="alice", password="wrong password", address="10.0.0.1"):
    return client.post(
        "/auth/login",
        json={"username": username, "password": password},
        headers={"X-Forwarded-For": address},
    )


def test_failures_for_one_account_and_address_are_throttled(app, client, register):
    app.config.update(LOGIN_MAX_FAILURES_PER_ACCOUNT=3, LOGIN_FAILURE_WINDOW_SECONDS=120)
    register()
    for _ in range(3):
        assert attempt(client).status_code == 401
    refused = attempt(client, password=PASSWORD)  # even the right password, for now
    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    assert 1 <= int(refused.headers["Retry-After"]) <= 120
    # Another address may still try this account, and this address other accounts.
    assert attempt(client, password=PASSWORD, address="10.0.0.2").status_code == 200
    assert attempt(client, username="nobody").status_code == 401


def test_unknown_accounts_are_throttled_alike(app, client):
    app.config.update(LOGIN_MAX_FAILURES_PER_ACCOUNT=2)
    for _ in range(2):
        assert attempt(client, username="ghost").status_code == 401
    assert attempt(client, username="ghost").status_code == 429


def test_failures_from_one_address_are_throttled_across_accounts(app, client, register):
    app.config.update(LOGIN_MAX_FAILURES_PER_ADDRESS=4)
    register()
    for n in range(4):
        assert attempt(client, username=f"user{n}").status_code == 401
    assert attempt(client, password=PASSWORD).status_code == 429
    assert attempt(client, password=PASSWORD, address="10.0.0.9").status_code == 200


def test_success_clears_the_account_counter(app, client, register):
    app.config.update(LOGIN_MAX_FAILURES_PER_ACCOUNT=3)
    register()
    for _ in range(2):
        attempt(client)
    assert attempt(client, password=PASSWORD).status_code == 200
    for _ in range(2):
        assert attempt(client).status_code == 401


def test_throttled_logins_never_reach_the_hasher(app, client, register, monkeypatch):
    app.config.update(LOGIN_MAX_FAILURES_PER_ACCOUNT=1)
    register()
    attempt(client)
    monkeypatch.setattr(sessions, "verify_password", pytest.fail)
    assert attempt(client).status_code == 429


def test_limits_come_from_the_environment(monkeypatch, make_app):
    monkeypatch.setenv("LOGIN_MAX_FAILURES_PER_ACCOUNT", "7")
    monkeypatch.setenv("LOGIN_MAX_FAILURES_PER_ADDRESS", "70")
    monkeypatch.setenv("LOGIN_FAILURE_WINDOW_SECONDS", "60")
    config = make_app().config
    assert (
        config["LOGIN_MAX_FAILURES_PER_ACCOUNT"],
        config["LOGIN_MAX_FAILURES_PER_ADDRESS"],
        config["LOGIN_FAILURE_WINDOW_SECONDS"],
    ) == (7, 70, 60)


def test_oversized_passwords_are_refused_before_hashing(client, register, monkeypatch):
    register()
    calls = []
    monkeypatch.setattr(sessions, "verify_password", lambda *a: calls.append(a) or False)
    assert attempt(client, password="x" * 128).status_code == 401
    assert len(calls) == 1  # the patch is in place: 128 characters are hashed
    assert attempt(client, password="x" * 129).status_code == 401
    huge = client.post(
        "/auth/login",
        json={"username": "alice", "password": "x" * (1024 * 1024)},
    )
    assert huge.status_code == 413
    assert huge.mimetype == "application/problem+json"
    assert len(calls) == 1


def test_redis_down_fails_closed_for_authenticated_requests_and_login(make_app, redis_server):
    redis_server.flushall()
    working = make_app()
    client = working.test_client()
    client.post(
        "/auth/register",
        json={"username": "alice", "email": "alice@example.com", "password": PASSWORD},
    )
    token = client.post("/auth/login", json={"username": "alice", "password": PASSWORD}).get_json()[
        "access_token"
    ]

    # Same database and keys, but a Redis nobody listens on.
    broken = make_app(REDIS_URL="redis://127.0.0.1:1/0").test_client()
    me = broken.get("/auth/me", headers=bearer(token))
    assert me.status_code == 503
    assert me.mimetype == "application/problem+json"
    assert me.headers["Retry-After"]
    login = broken.post("/auth/login", json={"username": "alice", "password": PASSWORD})
    assert login.status_code == 503
    # Public endpoints that need no Redis keep working.
    registered = broken.post(
        "/auth/register",
        json={"username": "carol", "email": "carol@example.com", "password": PASSWORD},
    )
    assert registered.status_code == 201
    assert broken.get("/auth/.well-known/jwks.json").status_code == 200
    assert broken.get("/openapi.json").status_code == 200


def test_the_username_and_the_email_of_one_account_share_its_tries(app, client, register):
    """Regression: each typed name had its own counter, so one account got twice the tries."""
    app.config.update(LOGIN_MAX_FAILURES_PER_ACCOUNT=4)
    register()
    verify(app, client, "alice@example.com")  # only a verified address logs in
    for name in ("alice", "ALICE@example.com", " Alice ", "alice@example.com"):
        assert attempt(client, username=name).status_code == 401
    for name in ("alice", "alice@example.com"):
        assert attempt(client, username=name, password=PASSWORD).status_code == 429


def test_a_wrong_current_password_counts_against_the_same_account(app, client, register, login):
    app.config.update(LOGIN_MAX_FAILURES_PER_ACCOUNT=2)
    register()
    verify(app, client, "alice@example.com")  # only a verified address logs in
    headers = {**bearer(login()["access_token"]), "X-Forwarded-For": "10.0.0.1"}
    for _ in range(2):
        wrong = {"current_password": "not the password", "new_password": "another passphrase"}
        response = client.put("/auth/me/password", json=wrong, headers=headers)
        assert response.status_code == 401
    assert attempt(client, username="alice@example.com", password=PASSWORD).status_code == 429


def test_forwarded_for_from_an_untrusted_peer_is_ignored(app, client, register):
    """Regression: ProxyFix believed X-Forwarded-For from any caller, so each made-up
    address got fresh tries."""
    app.config.update(LOGIN_MAX_FAILURES_PER_ACCOUNT=2)
    register()
    outsider = {"REMOTE_ADDR": "203.0.113.5"}
    for n in range(2):
        response = client.post(
            "/auth/login",
            json={"username": "alice", "password": "wrong password"},
            headers={"X-Forwarded-For": f"10.9.9.{n}"},
            environ_base=outsider,
        )
        assert response.status_code == 401
    again = client.post(
        "/auth/login",
        json={"username": "alice", "password": PASSWORD},
        headers={"X-Forwarded-For": "10.9.9.99"},
        environ_base=outsider,
    )
    assert again.status_code == 429
    # The gateway (a trusted peer) still names the client: another client may log in.
    assert attempt(client, password=PASSWORD, address="10.9.9.99").status_code == 200
