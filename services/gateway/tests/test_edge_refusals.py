"""What the edge refuses, over raw sockets against the served gateway, and what the upstream
saw of it: a request the gateway refuses, or whose body never ended, reaches no service."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from conftest import exchange, problem_of, status_of


def raw(head: str, body: bytes = b"") -> bytes:
    return head.replace("\n", "\r\n").encode("latin-1") + b"\r\n" + body


@pytest.fixture
def served(make_app):
    return make_app(REQUEST_BODY_TIMEOUT=0.5)


# -- 1. the body is read whole, in time, before any upstream call ---------------------------


def test_a_body_too_slow_is_408_and_costs_the_service_nothing(served, upstream):
    with served.connect() as sock:
        sock.sendall(raw("POST /api/items HTTP/1.1\nHost: g\nContent-Length: 100\n", b"x" * 10))
        answer = exchange(sock, b"")
    assert status_of(answer) == 408
    assert problem_of(answer)["status"] == 408
    assert upstream.seen == []


def test_a_body_cut_short_by_a_disconnect_never_reaches_a_service(served, upstream):
    with served.connect() as sock:
        sock.sendall(raw("POST /api/items HTTP/1.1\nHost: g\nContent-Length: 100\n", b"x" * 10))
        sock.shutdown(socket.SHUT_WR)
        exchange(sock, b"", timeout=2)
    time.sleep(0.3)
    assert upstream.seen == []


def test_a_chunked_body_cut_short_never_reaches_a_service(served, upstream):
    with served.connect() as sock:
        head = "DELETE /api/items/1 HTTP/1.1\nHost: g\nTransfer-Encoding: chunked\n"
        sock.sendall(raw(head, b"5\r\nhello\r\n"))
        sock.shutdown(socket.SHUT_WR)
        exchange(sock, b"", timeout=2)
    time.sleep(0.3)
    assert upstream.seen == []


def test_a_malformed_chunk_is_400_and_never_reaches_a_service(served, upstream):
    head = "POST /api/items HTTP/1.1\nHost: g\nTransfer-Encoding: chunked\n"
    with served.connect() as sock:
        answer = exchange(sock, raw(head, b"zz\r\nhello\r\n0\r\n\r\n"))
    assert status_of(answer) == 400
    assert problem_of(answer)["status"] == 400
    time.sleep(0.3)
    assert upstream.seen == []


def test_a_whole_chunked_body_is_forwarded_with_its_length(served, upstream):
    head = "POST /api/items HTTP/1.1\nHost: g\nTransfer-Encoding: chunked\nConnection: close\n"
    with served.connect() as sock:
        answer = exchange(sock, raw(head, b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"))
    assert status_of(answer) == 200
    assert upstream.seen[-1]["body"] == b"hello world"
    assert upstream.seen[-1]["headers"]["Content-Length"] == "11"


# -- 2. a request the parser or the edge refuses is carried out nowhere ----------------------


@pytest.mark.parametrize("coding", ["gzip", "gzip, chunked", "identity"])
def test_a_transfer_coding_other_than_chunked_is_refused_before_anything(served, upstream, coding):
    # Connection: close, so the answer is read without waiting out the keep-alive.
    head = (
        f"DELETE /api/items/1 HTTP/1.1\nHost: g\nTransfer-Encoding: {coding}\nConnection: close\n"
    )
    with served.connect() as sock:
        answer = exchange(sock, raw(head, b"5\r\nhello\r\n0\r\n\r\n"))
    assert status_of(answer) in (400, 501)
    assert problem_of(answer)["status"] == status_of(answer)
    time.sleep(0.3)
    assert upstream.seen == []


def test_a_length_and_a_chunked_coding_together_are_refused(served, upstream):
    head = "DELETE /api/items/1 HTTP/1.1\nHost: g\nContent-Length: 3\nTransfer-Encoding: chunked\n"
    with served.connect() as sock:
        answer = exchange(sock, raw(head, b"0\r\n\r\n"))
    assert status_of(answer) == 400
    time.sleep(0.3)
    assert upstream.seen == []


# -- 3. the head is bounded ---------------------------------------------------------------------


def test_a_head_over_the_limit_is_431_before_more_is_read(served, upstream):
    with served.connect() as sock:
        sock.sendall(b"GET /api/items HTTP/1.1\r\nHost: g\r\nX-Big: ")
        sent = 0
        try:
            for _ in range(48 * 1024):  # up to 48 MiB, refused long before
                sock.sendall(b"a" * 1024)
                sent += 1024
        except OSError:
            pass
        answer = exchange(sock, b"")
    assert sent < 4 * 1024 * 1024  # the gateway stopped reading early
    assert status_of(answer) == 431
    problem = problem_of(answer)
    assert problem["status"] == 431 and problem["instance"] == "/api/items"
    assert upstream.seen == []


def test_a_target_over_the_limit_is_414_with_an_instance(served, upstream):
    with served.connect() as sock:
        answer = exchange(sock, f"GET /api/{'a' * 9000} HTTP/1.1\r\nHost: g\r\n\r\n".encode())
    assert status_of(answer) == 414
    problem = problem_of(answer)
    assert problem["instance"] and problem["request_id"]
    assert upstream.seen == []


# -- 6. methods and paths --------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PROPFIND", "TRACE", "CONNECT_X", "PURGE"])
def test_a_method_the_gateway_does_not_route_is_405_with_allow(served, upstream, method):
    with served.connect() as sock:
        request = f"{method} /api/items HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n"
        answer = exchange(sock, request.encode())
    assert status_of(answer) in (400, 405)
    if status_of(answer) == 405:
        head = answer.split(b"\r\n\r\n")[0].decode().lower()
        assert "allow: get, head, post, put, patch, delete, options" in head
    assert upstream.seen == []


@pytest.mark.parametrize(
    "target",
    [
        "/api/../auth/accounts",
        "/api/items/%2e%2e/%2E%2E/auth/accounts",
        "/api/items%2F..%2F..%2Fauth%2Faccounts",
        "/api/items/%5C..",
        "/api/./items",
        "/auth/x/..",
    ],
)
def test_dot_segments_and_encoded_slashes_are_refused_before_routing(served, upstream, target):
    with served.connect() as sock:
        answer = exchange(
            sock, f"GET {target} HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n".encode()
        )
    assert status_of(answer) == 400
    assert problem_of(answer)["status"] == 400
    assert upstream.seen == []


# -- 5. an early answer on one connection costs other clients nothing -----------------------


def test_other_clients_posts_succeed_while_one_provokes_early_answers(served, upstream):
    from werkzeug.wrappers import Response

    def early_or_created(request):
        if request.path == "/api/early":
            return Response(b'{"status": 404}', 404, content_type="application/json")
        request.get_data()
        return Response(b'{"id": 1}', 201, content_type="application/json")

    upstream.handler = early_or_created
    client = served.test_client()
    stop = threading.Event()

    def provoke() -> None:
        provoker = served.test_client()
        while not stop.is_set():
            provoker.post("/api/early", data=b"z" * (512 * 1024))

    thread = threading.Thread(target=provoke, daemon=True)
    thread.start()
    try:
        statuses = [client.post("/api/items", json={"n": n}).status_code for n in range(30)]
    finally:
        stop.set()
        thread.join(10)
    assert statuses == [201] * 30
    created = [s for s in upstream.seen if s["path"] == "/api/items" and s["method"] == "POST"]
    assert len(created) == 30  # each carried out once: none lost, none sent twice


# -- 7. the console is rate-limited; /metrics is not public --------------------------------------


def test_the_console_counts_against_the_same_limit_as_the_api(make_app, upstream):
    upstream.body = b"[]"
    client = make_app(RATE_LIMIT_ANONYMOUS="3/minute").test_client()
    assert client.get("/api/items").status_code == 200
    assert client.get("/console/items/").status_code == 200
    assert client.get("/console/posts/").status_code == 200
    refused = client.get("/console/items/")
    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    calls = len(upstream.seen)
    assert client.get("/api/items").status_code == 429
    assert len(upstream.seen) == calls  # refused: no service call


def test_metrics_are_served_only_to_the_allowed_peers(make_app):
    assert make_app().test_client().get("/metrics").status_code == 200  # loopback, by default
    hidden = make_app(METRICS_ALLOWED="10.1.2.3").test_client().get("/metrics")
    assert hidden.status_code == 404
    assert b"http_requests_total" not in hidden.data
