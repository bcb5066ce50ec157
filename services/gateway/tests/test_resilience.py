"""Retries, the circuit breaker and the bulkhead in front of a failing upstream."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from conftest import closed_port

from gateway_service.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, CircuitOpen


class FlakyServer:
    """Drops the first `drops` connections without a word, then answers 200 and closes."""

    def __init__(self, drops: int) -> None:
        self.drops = drops
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.recv(65536)
                if self.connections > self.drops:
                    body = b'{"ok": true}'
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
                    )


@pytest.fixture
def flaky() -> Iterator[FlakyServer]:
    server = FlakyServer(drops=1)
    yield server
    server.sock.close()


def test_get_is_retried_once_after_a_connection_failure(make_app, flaky):
    client = make_app(CONTENT_SERVICE_URL=flaky.url).test_client()
    assert client.get("/api/items").status_code == 200
    assert flaky.connections == 2


def test_post_is_never_retried(make_app, flaky):
    client = make_app(CONTENT_SERVICE_URL=flaky.url).test_client()
    response = client.post("/api/items", json={"name": "x"})
    assert response.status_code == 502
    assert flaky.connections == 1


def test_get_gives_up_after_one_retry(make_app):
    server = FlakyServer(drops=10)
    client = make_app(CONTENT_SERVICE_URL=server.url).test_client()
    assert client.get("/api/items").status_code == 502
    assert server.connections == 2
    server.sock.close()


def test_circuit_opens_after_consecutive_failures_and_sheds_with_retry_after(make_app):
    app = make_app(
        CONTENT_SERVICE_URL=f"http://127.0.0.1:{closed_port()}",
        CIRCUIT_FAILURE_THRESHOLD=3,
        CIRCUIT_RESET_SECONDS=30,
    )
    client = app.test_client()
    assert [client.get("/api/items").status_code for _ in range(3)] == [502, 502, 502]
    shed = client.get("/api/items", headers={"X-Request-ID": "shed-1"})
    assert shed.status_code == 503
    assert shed.mimetype == "application/problem+json"
    assert shed.get_json()["request_id"] == "shed-1"
    assert 1 <= int(shed.headers["Retry-After"]) <= 30
    # The other upstream is unaffected.
    assert client.get("/auth/me").status_code == 200
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'gateway_circuit_state{upstream="content"} 2.0' in metrics
    assert 'gateway_upstream_errors_total{kind="circuit_open",upstream="content"}' in metrics


def test_breaker_half_opens_after_the_reset_time_and_closes_on_success():
    now = [0.0]
    breaker = CircuitBreaker(threshold=2, reset_seconds=30, clock=lambda: now[0])
    breaker.record_failure()
    assert breaker.state == CLOSED
    breaker.record_failure()
    assert breaker.state == OPEN
    with pytest.raises(CircuitOpen) as shed:
        breaker.before_call()
    assert shed.value.retry_after == 30
    now[0] = 30.0
    assert breaker.state == HALF_OPEN
    breaker.before_call()  # the one probe
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # everyone else waits for it
    breaker.record_success()
    assert breaker.state == CLOSED
    breaker.before_call()


def test_a_failed_probe_opens_the_circuit_again():
    now = [0.0]
    breaker = CircuitBreaker(threshold=1, reset_seconds=10, clock=lambda: now[0])
    breaker.record_failure()
    now[0] = 10.0
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == OPEN
    now[0] = 15.0
    with pytest.raises(CircuitOpen):
        breaker.before_call()


def test_a_success_resets_the_failure_count():
    breaker = CircuitBreaker(threshold=3)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == CLOSED


def test_readiness_probes_do_not_open_the_circuit(make_app):
    app = make_app(
        CONTENT_SERVICE_URL=f"http://127.0.0.1:{closed_port()}", CIRCUIT_FAILURE_THRESHOLD=2
    )
    client = app.test_client()
    for _ in range(5):
        assert client.get("/readyz").status_code == 503
    assert client.get("/api/items").status_code == 502  # still trying, not shed


def test_bulkhead_sheds_calls_beyond_the_in_flight_limit(make_app, upstream):
    upstream.delay = 0.8
    app = make_app(UPSTREAM_MAX_IN_FLIGHT=2)
    statuses: list[int] = []

    def call() -> None:
        statuses.append(app.test_client().get("/api/items").status_code)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 200, 503, 503]
