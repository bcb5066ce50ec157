"""Routing, header hygiene and error normalisation of the gateway's proxy."""

from __future__ import annotations

from conftest import closed_port

from gateway_service import create_app


def test_routes_by_prefix_and_keeps_path_and_query(client, upstream):
    response = client.get("/api/items?page=2", headers={"X-Request-ID": "trace-1"})
    assert response.status_code == 200
    assert response.get_json() == {"ok": True}
    assert response.headers["X-Request-ID"] == "trace-1"
    sent = upstream.seen[-1]
    assert sent["path"] == "/api/items?page=2"
    assert sent["headers"]["X-Request-Id"] == "trace-1"


def test_body_and_method_are_forwarded(client, upstream):
    client.post("/auth/register", data=b'{"a": 1}', content_type="application/json")
    assert upstream.seen[-1]["method"] == "POST"
    assert upstream.seen[-1]["body"] == b'{"a": 1}'


def test_hop_by_hop_and_forwarding_headers_are_not_trusted(client, upstream):
    client.get(
        "/api/items",
        headers={
            "Connection": "keep-alive, X-Secret-Hop",
            "X-Secret-Hop": "drop me",
            "X-Forwarded-For": "6.6.6.6",
            "Keep-Alive": "timeout=5",
        },
    )
    headers = {k.lower(): v for k, v in upstream.seen[-1]["headers"].items()}
    assert "x-secret-hop" not in headers
    assert "keep-alive" not in headers
    assert headers["x-forwarded-for"] != "6.6.6.6"
    assert headers["x-forwarded-proto"] == "http"


def test_upstream_html_error_becomes_problem_json(client, upstream):
    upstream.status, upstream.body, upstream.content_type = 500, b"<html>oops</html>", "text/html"
    response = client.get("/api/items", headers={"X-Request-ID": "rid-7"})
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["request_id"] == "rid-7"
    assert b"oops" not in response.data


def test_upstream_problem_passes_through(client, upstream):
    upstream.status = 409
    upstream.content_type = "application/problem+json"
    upstream.body = b'{"type":"about:blank","title":"Conflict","status":409,"detail":"taken"}'
    response = client.post("/auth/register", json={})
    assert response.status_code == 409
    assert response.get_json()["detail"] == "taken"


def test_refused_connection_is_502():
    app = create_app(
        {"APP_ENV": "testing", "CONTENT_SERVICE_URL": f"http://127.0.0.1:{closed_port()}"}
    )
    response = app.test_client().get("/api/items")
    assert response.status_code == 502
    assert response.mimetype == "application/problem+json"


def test_slow_upstream_is_504(client, upstream):
    upstream.delay = 2.0
    response = client.get("/api/items")
    assert response.status_code == 504
    assert response.mimetype == "application/problem+json"


def test_oversized_body_is_413_without_an_upstream_call(client, upstream):
    response = client.post(
        "/api/items", data=b"x" * (1024 * 1024 + 1), content_type="application/json"
    )
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    assert upstream.seen == []


def test_own_endpoints(client, upstream):
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"auth": "ok", "content": "ok"}


def test_readyz_names_the_missing_service():
    app = create_app(
        {
            "APP_ENV": "testing",
            "AUTH_SERVICE_URL": f"http://127.0.0.1:{closed_port()}",
            "CONTENT_SERVICE_URL": f"http://127.0.0.1:{closed_port()}",
        }
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert "auth" in response.get_json()["detail"]
