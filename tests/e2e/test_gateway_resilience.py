"""The gateway with a service down: /me degraded, the circuit opens, rate limits per user."""

from __future__ import annotations

import uuid

import pytest
import requests
from conftest import RunningStack, verify_email


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory):
    # Its own stack: it stops content and uses small limits.
    running = RunningStack(
        tmp_path_factory.mktemp("stack-gateway"),
        {"RATE_LIMIT": "8/minute", "CIRCUIT_FAILURE_THRESHOLD": "3"},
    )
    running.start()
    yield running
    running.stop()


def _login(gateway: str) -> dict[str, str]:
    name = "g" + uuid.uuid4().hex[:12]
    password = "correct horse " + uuid.uuid4().hex[:6]
    registered = requests.post(
        f"{gateway}/auth/register",
        json={"username": name, "email": f"{name}@example.com", "password": password},
        timeout=10,
    )
    assert registered.status_code == 201, registered.text
    verify_email(gateway, f"{name}@example.com")
    tokens = requests.post(
        f"{gateway}/auth/login", json={"username": name, "password": password}, timeout=10
    ).json()
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def test_rate_limit_per_user(own_stack):
    headers = _login(own_stack.gateway)
    statuses = [
        requests.get(f"{own_stack.gateway}/api/items", headers=headers, timeout=10).status_code
        for _ in range(9)
    ]
    assert statuses[:8] == [200] * 8
    limited = requests.get(f"{own_stack.gateway}/api/items", headers=headers, timeout=10)
    assert limited.status_code == 429
    assert limited.headers["Content-Type"].startswith("application/problem+json")
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["RateLimit-Remaining"] == "0"
    # Another user, same address, is not affected.
    other = _login(own_stack.gateway)
    assert requests.get(f"{own_stack.gateway}/api/items", headers=other, timeout=10).ok


def test_content_down_degrades_me_and_opens_the_circuit(own_stack):
    headers = _login(own_stack.gateway)
    own_stack.kill_service("content")
    me = requests.get(f"{own_stack.gateway}/me", headers=headers, timeout=10)
    assert me.status_code == 200
    body = me.json()
    assert body["degraded"] == ["content"]
    assert body["profile"] is None and body["posts"] is None
    assert body["account"]["username"]
    statuses = []
    for _ in range(12):  # two workers, each opens its own circuit after three failures
        statuses.append(requests.get(f"{own_stack.gateway}/api/items", timeout=10).status_code)
    assert set(statuses) <= {502, 503}
    shed = requests.get(f"{own_stack.gateway}/api/items", timeout=10)
    assert shed.status_code == 503
    assert shed.headers["Content-Type"].startswith("application/problem+json")
    assert int(shed.headers["Retry-After"]) >= 1
    metrics = requests.get(f"{own_stack.gateway}/metrics", timeout=10).text
    assert 'gateway_circuit_state{upstream="content"} 2.0' in metrics
    assert requests.get(f"{own_stack.gateway}/healthz", timeout=5).status_code == 200
