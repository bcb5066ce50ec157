"""The gateway's own promises over the real stack: edge auth, errors, CORS, /me, docs, metrics."""

from __future__ import annotations

import json
import os
import signal
import socket
import tempfile
import time
from pathlib import Path

import pytest
import requests

PROBLEM = "application/problem+json"
ORIGIN = "http://localhost:5173"


def test_a_bad_token_is_refused_at_the_edge_even_on_a_public_read(gateway):
    public = requests.get(f"{gateway}/api/items", timeout=10)
    assert public.status_code == 200
    bad = requests.get(
        f"{gateway}/api/items", headers={"Authorization": "Bearer nonsense"}, timeout=10
    )
    assert bad.status_code == 401
    assert bad.headers["Content-Type"].startswith(PROBLEM)
    assert bad.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_service_problem_passes_through_with_the_request_id(gateway):
    response = requests.get(
        f"{gateway}/api/items/987654321", headers={"X-Request-ID": "gw-e2e-404"}, timeout=10
    )
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith(PROBLEM)
    assert response.headers["X-Request-ID"] == "gw-e2e-404"
    assert response.json()["request_id"] == "gw-e2e-404"


def test_an_unrouted_path_is_a_problem_too(gateway):
    response = requests.get(f"{gateway}/nowhere", timeout=10)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith(PROBLEM)


@pytest.mark.parametrize(
    "raw",
    [b"GARBAGE\r\n\r\n", b"GET /api/items HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"],
    ids=["request-line", "header-line"],
)
def test_a_request_the_gateway_cannot_parse_is_a_400_problem(gateway, raw):
    host, port = gateway.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(raw)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"Content-Type: application/problem+json" in head
    document = json.loads(body)
    assert document["status"] == 400
    assert f"X-Request-ID: {document['request_id']}".encode() in head


def test_reads_served_on_the_event_loop_answer_like_the_rest(gateway, user):
    """A remembered token's GET and HEAD: the edge's loop path, over the real worker."""
    headers = {**user["headers"], "Origin": ORIGIN, "X-Request-ID": "loop-e2e-1"}
    created = requests.post(
        f"{gateway}/api/items",
        json={"name": "Loop", "price": 2},
        headers=user["headers"],
        timeout=10,
    )
    assert created.status_code == 201, created.text
    url = f"{gateway}/api/items/{created.json()['id']}"
    answers = [requests.get(url, headers=headers, timeout=10) for _ in range(2)]
    head = requests.head(url, headers=headers, timeout=10)
    for answer in answers:
        assert answer.status_code == 200
        assert answer.json()["name"] == "Loop"
        assert answer.headers["X-Request-ID"] == "loop-e2e-1"
        assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert int(answer.headers["RateLimit-Remaining"]) >= 0
        assert len(answer.headers.get("Date", "").split(",")) == 2  # one Date header
    assert answers[1].headers["ETag"] == answers[0].headers["ETag"]
    assert int(answers[1].headers["RateLimit-Remaining"]) < int(
        answers[0].headers["RateLimit-Remaining"]
    )
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Length"] == answers[0].headers["Content-Length"]


def test_oversized_body_is_413_at_the_gateway(gateway, user):
    response = requests.post(
        f"{gateway}/api/items",
        data=b"{" + b" " * (1024 * 1024 + 1) + b"}",
        headers={**user["headers"], "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 413
    assert response.headers["Content-Type"].startswith(PROBLEM)


def test_a_chunked_body_reaches_the_service(gateway, user):
    def body():
        yield b'{"name": "Chunked", '
        yield b'"price": 3}'

    response = requests.post(
        f"{gateway}/api/items",
        data=body(),
        headers={**user["headers"], "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "Chunked"


def test_cors_preflight_and_answers(gateway, user):
    preflight = requests.options(
        f"{gateway}/api/items",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
        timeout=10,
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert preflight.headers["Access-Control-Allow-Credentials"] == "true"
    assert int(preflight.headers["Access-Control-Max-Age"]) > 0
    answer = requests.get(f"{gateway}/api/items", headers={"Origin": ORIGIN}, timeout=10)
    assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "X-Total-Count" in answer.headers["Access-Control-Expose-Headers"]
    foreign = requests.get(
        f"{gateway}/api/items", headers={"Origin": "https://evil.example"}, timeout=10
    )
    assert "Access-Control-Allow-Origin" not in foreign.headers


def test_answers_carry_rate_limit_headers(gateway, user):
    response = requests.get(f"{gateway}/api/items", headers=user["headers"], timeout=10)
    assert response.status_code == 200
    assert int(response.headers["RateLimit-Remaining"]) < int(response.headers["RateLimit-Limit"])
    assert int(response.headers["RateLimit-Reset"]) <= 60


def test_me_composes_the_account_from_auth(gateway, user):
    response = requests.get(f"{gateway}/me", headers=user["headers"], timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["account"]["id"] == user["account"]["id"]
    assert body["account"]["username"] == user["account"]["username"]
    assert body["degraded"] == []
    assert set(body) == {"account", "profile", "posts", "degraded"}


def test_openapi_document_merges_what_each_service_serves(stack):
    document = requests.get(f"{stack.gateway}/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.1")
    assert {"/me", "/healthz", "/readyz"} <= set(document["paths"])
    unavailable = document["info"].get("x-unavailable-services", [])
    for service, prefix in (("auth", "/auth/"), ("content", "/api/")):
        own = requests.get(f"{stack.url(service)}/openapi.json", timeout=10)
        if own.status_code == 200:
            assert service not in unavailable
            assert any(path.startswith(prefix) for path in document["paths"])
        else:
            assert service in unavailable


def test_docs_are_served_without_a_cdn(gateway):
    page = requests.get(f"{gateway}/docs/", timeout=10)
    assert page.status_code == 200
    assert "swagger-ui-bundle.js" in page.text
    assert "https://" not in page.text
    assert requests.get(f"{gateway}/docs/swagger-ui-bundle.js", timeout=10).status_code == 200


def test_every_service_serves_metrics_for_all_its_workers(stack):
    for _ in range(20):
        requests.get(f"{stack.gateway}/healthz", timeout=10)
    text = requests.get(f"{stack.gateway}/metrics", timeout=10).text
    line = next(
        line
        for line in text.splitlines()
        if line.startswith("http_requests_total{")
        and 'route="/healthz"' in line
        and 'service="gateway"' in line
        and 'status="200"' in line
    )
    # Two gunicorn workers share the count: one scrape sees all twenty.
    assert float(line.rsplit(" ", 1)[1]) >= 20
    for service in ("auth", "content"):
        own = requests.get(f"{stack.url(service)}/metrics", timeout=10)
        assert own.status_code == 200
        assert f'service="{service}"' in own.text


@pytest.mark.local_stack
def test_a_dead_workers_gauges_are_forgotten(stack):
    """A worker killed while its circuit was open must not keep reporting it after it died."""
    master = int((stack.state_dir / "run" / "gateway.gunicorn.pid").read_text())
    directory = Path(tempfile.gettempdir()) / f"suite-prometheus-{master}"
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    victim = int(children[0])
    gauge_file = directory / f"gauge_livemax_{victim}.db"
    assert gauge_file.exists()

    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while gauge_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not gauge_file.exists()
    assert (directory / f"counter_{victim}.db").exists()  # what it counted still adds up
    text = requests.get(f"{stack.gateway}/metrics", timeout=10).text
    assert 'gateway_circuit_state{upstream="content"} 0.0' in text
