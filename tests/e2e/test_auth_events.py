"""Account events reach content through auth's outbox, even when content was down.

Uses content's `POST /internal/events` (BRIEF contract): a registration makes a profile at
`/api/users/<id>`, a deletion removes it. This stack has its own key folder, a bootstrap
admin and a short outbox back-off, and it stops and restarts content.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from conftest import RunningStack, verify_email

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ADMIN_PASSWORD = "bootstrap admin passphrase"


@pytest.fixture(scope="module")
def events_stack(tmp_path_factory) -> Iterator[RunningStack]:
    base = tmp_path_factory.mktemp("stack-events")
    running = RunningStack(
        base,
        {
            "JWT_KEYS_DIR": str(base / "keys"),
            "JWT_KEYS_RELOAD_SECONDS": "1",
            # Pre-publication, shortened: a rotated key signs 3 s after it is published,
            # longer than the verifiers' 1 s refetch cool-down plus the 1 s reload.
            "JWT_KEY_ACTIVATION_SECONDS": "3",
            "JWKS_REFETCH_COOLDOWN": "1",
            "OUTBOX_BACKOFF_SECONDS": "0.2",
            "OUTBOX_MAX_BACKOFF_SECONDS": "1",
            "BOOTSTRAP_ADMIN_USERNAME": "boss",
            "BOOTSTRAP_ADMIN_EMAIL": "boss@example.com",
            "BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        },
    )
    running.start()
    yield running
    running.stop()


def register(gateway: str) -> tuple[dict, dict]:
    name = "e" + uuid.uuid4().hex[:10]
    password = "events passphrase " + uuid.uuid4().hex[:4]
    account = requests.post(
        f"{gateway}/auth/register",
        json={"username": name, "email": f"{name}@example.com", "password": password},
        timeout=10,
    )
    assert account.status_code == 201, account.text
    verify_email(gateway, f"{name}@example.com")
    tokens = requests.post(
        f"{gateway}/auth/login", json={"username": name, "password": password}, timeout=10
    ).json()
    return {**account.json(), "password": password}, tokens


def wait_for_status(url: str, status: int, seconds: float = 15) -> requests.Response:
    deadline = time.monotonic() + seconds
    while True:
        try:
            response = requests.get(url, timeout=5)
            if response.status_code == status or time.monotonic() > deadline:
                return response
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def test_the_bootstrap_admin_exists_and_reaches_content(events_stack):
    gateway = events_stack.gateway
    pair = requests.post(
        f"{gateway}/auth/login", json={"username": "boss", "password": ADMIN_PASSWORD}, timeout=10
    ).json()
    me = requests.get(
        f"{gateway}/auth/me",
        headers={"Authorization": f"Bearer {pair['access_token']}"},
        timeout=10,
    ).json()
    assert me["roles"] == ["admin"]
    profile = wait_for_status(f"{gateway}/api/users/{me['id']}", 200)
    assert profile.status_code == 200


def test_registration_and_deletion_reach_content(events_stack):
    gateway = events_stack.gateway
    account, tokens = register(gateway)
    profile = wait_for_status(f"{gateway}/api/users/{account['id']}", 200)
    assert profile.status_code == 200, profile.text
    assert profile.json()["username"] == account["username"]
    deleted = requests.delete(
        f"{gateway}/auth/me",
        json={"password": account["password"]},
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=10,
    )
    assert deleted.status_code == 204
    assert wait_for_status(f"{gateway}/api/users/{account['id']}", 404).status_code == 404


def token_requests(stack: RunningStack) -> list[dict]:
    """The token endpoint's answers in auth's access log (JSON lines)."""
    answers = []
    for line in (stack.log_dir / "auth.log").read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("path") == "/auth/token" and record.get("method") == "POST":
            answers.append(record)
    return answers


def relay_event(account_id: int) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "type": "account.created",
        "occurred_at": "2026-01-01T00:00:00Z",
        "data": {
            "account_id": account_id,
            "username": f"relayed{account_id}",
            "email": f"relayed{account_id}@example.com",
            "roles": [],
        },
    }


def test_events_flow_with_the_relays_client_credentials_token(events_stack):
    gateway = events_stack.gateway
    # The registrations above reached content: the relay first asked auth's token endpoint.
    assert [r["status"] for r in token_requests(events_stack)][:1] == [200]
    # The relay's client, as any OAuth client library sees it (authlib, client_secret_basic).
    relay = OAuth2Session(
        "auth-relay", events_stack.env["RELAY_CLIENT_SECRET"], scope="events:write"
    )
    token = relay.fetch_token(f"{gateway}/auth/token", grant_type="client_credentials")
    assert token["scope"] == "events:write"
    account_id = 900_000 + uuid.uuid4().int % 100_000
    # The same client asking only for a scope it does not hold gets a token without
    # events:write (RFC 6749 3.3: the server narrows the scope); content refuses it, and
    # nothing happens there.
    unscoped = OAuth2Session("auth-relay", events_stack.env["RELAY_CLIENT_SECRET"], scope="profile")
    bare = unscoped.fetch_token(f"{gateway}/auth/token", grant_type="client_credentials")
    assert bare["scope"] == ""
    refused = requests.post(
        f"{events_stack.url('content')}/internal/events",
        json=relay_event(account_id),
        headers={"Authorization": f"Bearer {bare['access_token']}"},
        timeout=10,
    )
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
    assert requests.get(f"{gateway}/api/users/{account_id}", timeout=10).status_code == 404
    # With the scope, content applies the event.
    accepted = requests.post(
        f"{events_stack.url('content')}/internal/events",
        json=relay_event(account_id),
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=10,
    )
    assert accepted.status_code == 200, accepted.text
    assert requests.get(f"{gateway}/api/users/{account_id}", timeout=10).status_code == 200
    # A wrong secret gets no token at all.
    with pytest.raises(OAuthError) as refused_client:
        OAuth2Session("auth-relay", "not-the-secret").fetch_token(
            f"{gateway}/auth/token", grant_type="client_credentials"
        )
    assert refused_client.value.error == "invalid_client"


def test_rotated_keys_are_used_without_restarting_anything(events_stack):
    gateway = events_stack.gateway
    account, before = register(gateway)
    env = {
        **events_stack.env,
        "APP_ENV": "development",
        "LOG_LEVEL": "WARNING",
        "AUTH_DATABASE_URL": events_stack.env.get("AUTH_DATABASE_URL")
        or f"sqlite:///{events_stack.state_dir / 'auth.sqlite3'}",
    }
    subprocess.run(
        [str(BIN / "flask"), "--app", "auth_service", "rotate-keys"],
        env=env,
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    old_kid = jwt.get_unverified_header(before["access_token"])["kid"]
    deadline = time.monotonic() + 15
    while True:  # every worker re-reads the key folder within JWT_KEYS_RELOAD_SECONDS
        after = requests.post(
            f"{gateway}/auth/login",
            json={"username": account["username"], "password": account["password"]},
            timeout=10,
        ).json()
        if jwt.get_unverified_header(after["access_token"])["kid"] != old_kid:
            break
        assert time.monotonic() < deadline, "the new key never signed"
        time.sleep(0.5)
    kids = [
        k["kid"]
        for k in requests.get(f"{gateway}/auth/.well-known/jwks.json", timeout=10).json()["keys"]
    ]
    assert old_kid in kids and len(kids) == 2
    for token in (before["access_token"], after["access_token"]):
        headers = {"Authorization": f"Bearer {token}"}
        assert requests.get(f"{gateway}/auth/me", headers=headers, timeout=10).status_code == 200
        # Content learns the new key from the JWKS on the unknown kid (after its cool-down).
        deadline = time.monotonic() + 15
        while True:
            created = requests.post(
                f"{gateway}/api/items", json={"name": "k", "price": 1}, headers=headers, timeout=10
            )
            if created.status_code == 201 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert created.status_code == 201, created.text


def _start_content_again(stack: RunningStack, log: BinaryIO) -> subprocess.Popen[bytes]:
    env = {
        **stack.env,
        "AUTH_SERVICE_URL": stack.url("auth"),
        "CONTENT_SERVICE_URL": stack.url("content"),
        "CONTENT_DATABASE_URL": stack.env.get("CONTENT_DATABASE_URL")
        or f"sqlite:///{stack.state_dir / 'content.sqlite3'}",
        "REDIS_URL": f"redis://127.0.0.1:{stack.env['REDIS_PORT']}/0",
        "APP_ENV": "development",
        # As devstack gives every service: tokens name auth through this stack's gateway.
        "ISSUER": f"{stack.gateway}/auth",
    }
    return subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "--config",
            str(ROOT / "deploy" / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{stack.ports['content']}",
            "content_service:create_app()",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )


def test_events_made_while_content_is_down_arrive_when_it_returns(events_stack):
    """Last in this module: it stops content."""
    gateway = events_stack.gateway
    events_stack.kill_service("content")
    account, _ = register(gateway)
    time.sleep(1.5)  # a few failed attempts while content is gone
    with open(events_stack.log_dir / "content-restarted.log", "wb") as log:
        content = _start_content_again(events_stack, log)
        try:
            profile = wait_for_status(f"{gateway}/api/users/{account['id']}", 200, seconds=30)
            assert profile.status_code == 200, profile.text
        finally:
            content.terminate()
            content.wait(timeout=30)
