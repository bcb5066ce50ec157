"""Faults between the gateway and a service, made by a TCP proxy the test controls.

The gateway reaches auth and content through one fault proxy each; auth and content still
reach each other directly, and tokens are verified from auth's JWKS directly, so a fault
hits exactly one hop.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from conftest import (
    RunningStack,
    assert_problem,
    free_port,
    recovers,
    register,
    start_stack,
    wait_until,
)
from faultproxy import FaultProxy

READ_TIMEOUT = 2.0  # the gateway's UPSTREAM_READ_TIMEOUT in this stack
CIRCUIT_RESET_SECONDS = 5.0


@pytest.fixture(scope="module")
def proxies() -> Iterator[dict[str, FaultProxy]]:
    # The services' ports are chosen here, so the proxies can exist before the stack does.
    ports = {"auth": free_port(), "content": free_port()}
    started = {name: FaultProxy(port).start() for name, port in ports.items()}
    yield started
    for proxy in started.values():
        proxy.stop()


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory, proxies: dict[str, FaultProxy]) -> Any:
    auth_port = proxies["auth"].target[1]
    content_port = proxies["content"].target[1]
    running = start_stack(
        tmp_path_factory.mktemp("faults"),
        {
            "AUTH_PORT": str(auth_port),
            "CONTENT_PORT": str(content_port),
            "GATEWAY_AUTH_SERVICE_URL": proxies["auth"].url,
            "GATEWAY_CONTENT_SERVICE_URL": proxies["content"].url,
            "JWKS_URL": f"http://127.0.0.1:{auth_port}/auth/.well-known/jwks.json",
            "UPSTREAM_READ_TIMEOUT": str(READ_TIMEOUT),
            "CIRCUIT_FAILURE_THRESHOLD": "5",
            "CIRCUIT_RESET_SECONDS": str(CIRCUIT_RESET_SECONDS),
        },
    )
    running.ports.update(auth=auth_port, content=content_port)
    yield running
    running.stop()


@pytest.fixture
def content(faulty: RunningStack, proxies: dict[str, FaultProxy]) -> Iterator[FaultProxy]:
    yield proxies["content"]
    proxies["content"].set_mode("pass")
    assert recovers(f"{faulty.gateway}/api/items")


@pytest.fixture
def auth(faulty: RunningStack, proxies: dict[str, FaultProxy]) -> Iterator[FaultProxy]:
    yield proxies["auth"]
    proxies["auth"].set_mode("pass")
    assert recovers(f"{faulty.gateway}/auth/.well-known/jwks.json")


def test_the_stack_runs_through_the_proxies(faulty: RunningStack, proxies) -> None:
    before = proxies["content"].connections_seen + proxies["auth"].connections_seen
    user = register(faulty.gateway)
    created = requests.post(
        f"{faulty.gateway}/api/items", json={"name": "Lamp", "price": 3}, headers=user["headers"]
    )
    assert created.status_code == 201, created.text
    assert proxies["content"].connections_seen + proxies["auth"].connections_seen > before


def test_connection_refused_gives_502(faulty: RunningStack, content: FaultProxy) -> None:
    with content.fault("refuse"):
        started = time.monotonic()
        response = requests.get(f"{faulty.gateway}/api/items", timeout=20)
        assert_problem(response, 502)
        assert time.monotonic() - started < READ_TIMEOUT
        user_write = requests.post(
            f"{faulty.gateway}/api/items", json={"name": "x", "price": 1}, timeout=20
        )
        assert_problem(user_write, 502)
    assert recovers(f"{faulty.gateway}/api/items")


def test_hanging_upstream_gives_504_at_the_read_timeout(
    faulty: RunningStack, content: FaultProxy
) -> None:
    with content.fault("hang"):
        started = time.monotonic()
        response = requests.get(f"{faulty.gateway}/api/items", timeout=30)
        elapsed = time.monotonic() - started
        body = assert_problem(response, 504)
        assert "content" in body["detail"]
        # Not before the timeout, and not much after it (generous: two busy cores).
        assert READ_TIMEOUT * 0.9 <= elapsed < READ_TIMEOUT + 4, elapsed
    assert recovers(f"{faulty.gateway}/api/items")


@pytest.mark.parametrize("reset_after", [0, 12, 40])
def test_reset_before_the_headers_are_complete_gives_502(
    faulty: RunningStack, content: FaultProxy, reset_after: int
) -> None:
    with content.fault("reset", reset_after=reset_after):
        response = requests.get(f"{faulty.gateway}/api/items", timeout=20)
        assert_problem(response, 502)
    assert recovers(f"{faulty.gateway}/api/items")


def test_reset_inside_the_body_never_looks_complete(
    faulty: RunningStack, content: FaultProxy
) -> None:
    """Once the headers are relayed the status cannot change; the client must see a break.

    A truncated body that arrives looking whole would be silent data loss.
    """
    user = register(faulty.gateway)
    created = requests.post(
        f"{faulty.gateway}/api/items",
        json={"name": "big", "price": 1, "description": "x" * 10_000},
        headers=user["headers"],
        timeout=20,
    )
    assert created.status_code == 201, created.text
    url = f"{faulty.gateway}/api/items/{created.json()['id']}"
    # Headers take well under 4 kB; the body is over 10 kB: the cut falls inside the body.
    with content.fault("reset", reset_after=4_000):
        try:
            response = requests.get(url, timeout=20)
        except requests.exceptions.RequestException:
            return  # the break reached the client as a broken response: correct
        if response.status_code == 200:
            pytest.fail("a body cut short upstream arrived looking complete")
        assert_problem(response, 502)


def test_healthz_stays_fast_while_30_requests_hang(
    faulty: RunningStack, content: FaultProxy
) -> None:
    with content.fault("hang"), ThreadPoolExecutor(max_workers=30) as pool:
        hanging = [
            pool.submit(requests.get, f"{faulty.gateway}/api/items?n={i}", timeout=60)
            for i in range(30)
        ]
        time.sleep(0.5)  # let them all reach the gateway and block on the upstream
        assert sum(not f.done() for f in hanging) >= 25
        for _ in range(3):
            started = time.monotonic()
            health = requests.get(f"{faulty.gateway}/healthz", timeout=10)
            assert health.status_code == 200
            assert time.monotonic() - started < 1.0
        statuses = [f.result().status_code for f in hanging]
    # Each hung request ends as a timeout or, once the breaker trips, as a shed request.
    assert set(statuses) <= {503, 504}, statuses


def test_circuit_opens_on_failures_and_closes_when_the_upstream_is_back(
    faulty: RunningStack, auth: FaultProxy
) -> None:
    jwks = f"{faulty.gateway}/auth/.well-known/jwks.json"
    # Reset at once: each call reaches the proxy (and is counted) and fails with a 502.
    auth.set_mode("reset", reset_after=0)
    statuses = []
    shed = None
    # The breaker lives in each gateway worker; call until every worker sheds (10 in a row).
    for _ in range(60):
        response = requests.get(jwks, timeout=20)
        statuses.append(response.status_code)
        if response.status_code == 503 and shed is None:
            shed = response
        if statuses[-10:] == [503] * 10:
            break
    assert statuses[0] == 502, statuses
    assert statuses[-10:] == [503] * 10, statuses
    assert shed is not None
    body = assert_problem(shed, 503)
    assert "auth" in body["detail"]
    assert 1 <= int(shed.headers["Retry-After"]) <= CIRCUIT_RESET_SECONDS + 1
    # While open, the upstream is left alone: calls are shed without a connection. Only a
    # worker whose reset time runs out meanwhile may send its one half-open probe (a GET,
    # tried twice), which fails and opens that circuit again.
    seen = auth.connections_seen
    shed_statuses = [requests.get(jwks, timeout=20).status_code for _ in range(10)]
    assert shed_statuses.count(503) >= 8, shed_statuses
    assert auth.connections_seen - seen <= 4, auth.connections_seen - seen

    auth.set_mode("pass")
    # After the reset time a probe goes through, succeeds, and the circuit closes: in every
    # worker (each opened at its own moment, so each closes at its own moment too).

    def closed_everywhere() -> bool:
        return all(requests.get(jwks, timeout=20).status_code == 200 for _ in range(8))

    assert wait_until(closed_everywhere, CIRCUIT_RESET_SECONDS + 15, interval=0.5)
