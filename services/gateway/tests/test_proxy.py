"""Routing, header hygiene, bodies and error normalisation of the gateway's proxy."""

from __future__ import annotations

import json

import pytest
from conftest import Scripted, closed_port

from gateway_service import create_app


def test_routes_by_prefix_and_keeps_path_and_query(client, upstream):
    response = client.get("/api/items?page=2", headers={"X-Request-ID": "trace-1"})
    assert response.status_code == 200
    assert response.get_json() == {"ok": True}
    assert response.headers["X-Request-ID"] == "trace-1"
    sent = upstream.seen[-1]
    assert sent["path"] == "/api/items?page=2"
    assert sent["headers"]["X-Request-Id"] == "trace-1"


def test_routes_come_from_configuration(make_app, upstream, second_upstream):
    app = make_app(
        GATEWAY_ROUTES="/api=content,/files=storage", STORAGE_SERVICE_URL=second_upstream.url
    )
    client = app.test_client()
    assert client.get("/files/a.txt").status_code == 200
    assert second_upstream.seen[-1]["path"] == "/files/a.txt"
    assert client.get("/auth/me").status_code == 404  # no longer routed
    assert client.get("/filesystem").status_code == 404  # prefixes match whole segments


def test_body_and_method_are_forwarded(client, upstream):
    client.post("/auth/register", data=b'{"a": 1}', content_type="application/json")
    assert upstream.seen[-1]["method"] == "POST"
    assert upstream.seen[-1]["body"] == b'{"a": 1}'


def test_upstream_connections_are_kept_alive_and_reused(make_app, keepalive_upstream):
    url, ports = keepalive_upstream
    client = make_app(CONTENT_SERVICE_URL=url).test_client()
    for _ in range(5):
        assert client.get("/api/items").status_code == 200
    assert len(ports) == 5
    assert len(set(ports)) == 1  # one connection, five requests


def test_a_cookie_one_answer_sets_never_rides_on_another_clients_request(make_app, upstream):
    """The gateway speaks to a service for every client at once: a Set-Cookie in one
    client's answer is that client's, never remembered and sent on with (or in place of)
    the next client's cookies. The services are reached by name in compose and Kubernetes
    (http://auth:8001); localhost stands in for such a name here (a client's cookie jar
    keeps no cookie an IP address sets)."""
    named = upstream.url.replace("127.0.0.1", "localhost")
    upstream.paths["/auth/login"] = Scripted(
        200, b"{}", headers={"Set-Cookie": "auth_session=alice-session; Path=/"}
    )
    upstream.paths["/auth/web/login"] = Scripted(
        200, b"{}", headers={"Set-Cookie": "form_session=alice-form; Path=/"}
    )
    app = make_app(AUTH_SERVICE_URL=named, CONTENT_SERVICE_URL=named)
    alice, bob = app.test_client(), app.test_client()
    logged_in = alice.post("/auth/login", data=b"{}", content_type="application/json")
    assert "alice-session" in logged_in.headers["Set-Cookie"]  # relayed to its own client
    assert "alice-form" in alice.get("/auth/web/login").headers["Set-Cookie"]

    for send in (bob.get, bob.post, bob.delete):  # pooled and one-off connections alike
        assert send("/auth/me").status_code == 200
        assert "Cookie" not in upstream.seen[-1]["headers"]
    bob.session.cookies.set("auth_session", "bob-session")
    for send in (bob.get, bob.post):
        assert send("/auth/me").status_code == 200
        assert upstream.seen[-1]["headers"]["Cookie"] == "auth_session=bob-session"


def test_hop_by_hop_and_connection_named_headers_are_stripped(client, upstream):
    client.get(
        "/api/items",
        headers={
            "Connection": "keep-alive, X-Secret-Hop",
            "X-Secret-Hop": "drop me",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Proxy-Authorization": "Basic abc",
            "Upgrade": "h2c",
        },
    )
    headers = {k.lower() for k in upstream.seen[-1]["headers"]}
    assert not headers & {"x-secret-hop", "keep-alive", "te", "proxy-authorization", "upgrade"}


def test_hop_by_hop_headers_of_the_answer_are_stripped(client, upstream):
    upstream.headers = {"Connection": "X-Internal", "X-Internal": "secret", "X-Kept": "yes"}
    response = client.get("/api/items")
    assert "X-Internal" not in response.headers
    assert response.headers["X-Kept"] == "yes"


def test_the_upstreams_date_and_server_banner_are_not_relayed(client, upstream):
    # The gateway's server writes its own Date; a second one, or the backend's banner,
    # would leak through otherwise (werkzeug's test upstream sends both).
    upstream.headers = {"X-Kept": "yes"}
    response = client.get("/api/items")
    assert upstream.seen and response.headers["X-Kept"] == "yes"
    assert "Server" not in response.headers
    assert len(response.getlist("Date")) == 1  # the gateway's server's own


def test_forwarding_and_identity_headers_from_a_client_are_replaced(client, upstream):
    client.get(
        "/api/items",
        headers={
            "X-Forwarded-For": "6.6.6.6",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "evil.example",
            "Forwarded": "for=6.6.6.6",
            "X-Real-IP": "6.6.6.6",
            "X-User-Id": "1",
            "X-Authenticated-User": "admin",
            "X-Roles": "admin",
        },
    )
    headers = {k.lower(): v for k, v in upstream.seen[-1]["headers"].items()}
    assert headers["x-forwarded-for"] == "127.0.0.1"  # the peer, as the socket says
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-host"] == client.url.removeprefix("http://")
    for name in ("forwarded", "x-real-ip", "x-user-id", "x-authenticated-user", "x-roles"):
        assert name not in headers


def test_a_trusted_proxy_forwarding_headers_are_kept_and_extended(make_app, upstream):
    client = make_app(TRUSTED_PROXIES="127.0.0.0/8").test_client()
    client.get(
        "/api/items",
        headers={
            "X-Forwarded-For": "198.51.100.7",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "api.example.com",
            "X-Real-IP": "198.51.100.7",
        },
    )
    headers = {k.lower(): v for k, v in upstream.seen[-1]["headers"].items()}
    assert headers["x-forwarded-for"] == "198.51.100.7, 127.0.0.1"
    assert headers["x-forwarded-proto"] == "https"
    assert headers["x-forwarded-host"] == "api.example.com"
    assert headers["x-real-ip"] == "198.51.100.7"


def test_large_request_body_is_streamed_to_the_upstream(make_app, upstream):
    client = make_app(MAX_CONTENT_LENGTH=8 * 1024 * 1024).test_client()
    body = bytes(range(256)) * (5 * 4096)  # 5 MiB
    response = client.post("/api/items", data=body, content_type="application/octet-stream")
    assert response.status_code == 200
    assert upstream.seen[-1]["body"] == body


def test_large_response_body_is_streamed_to_the_client(client, upstream):
    upstream.body = b"x" * (3 * 1024 * 1024)
    upstream.content_type = "application/octet-stream"
    response = client.get("/api/items/export")
    assert response.data == upstream.body


def test_oversized_body_is_413_without_an_upstream_call(client, upstream):
    response = client.post(
        "/api/items", data=b"x" * (1024 * 1024 + 1), content_type="application/json"
    )
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    assert upstream.seen == []


def test_oversized_chunked_body_is_413_without_an_upstream_call(client, upstream):
    # No Content-Length, as gunicorn hands over a chunked body.
    parts = (b"y" * 65536 for _ in range(17))  # requests sends a generator chunked
    response = client.post("/api/items", data=parts, content_type="application/json")
    assert response.status_code == 413
    assert upstream.seen == []


def test_small_chunked_body_is_forwarded_with_its_length(client, upstream):
    parts = iter([b'{"name": ', b'"x"}'])
    response = client.post("/api/items", data=parts, content_type="application/json")
    assert response.status_code == 200
    assert upstream.seen[-1]["body"] == b'{"name": "x"}'
    assert upstream.seen[-1]["headers"]["Content-Length"] == "13"


def test_upstream_html_error_becomes_problem_json(client, upstream):
    upstream.status, upstream.body, upstream.content_type = 500, b"<html>oops</html>", "text/html"
    response = client.get("/api/items", headers={"X-Request-ID": "rid-7"})
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["request_id"] == "rid-7"
    assert set(body) >= {"type", "title", "status", "detail", "instance", "request_id"}
    assert b"oops" not in response.data


def test_upstream_plain_and_empty_errors_become_problem_json(client, upstream):
    upstream.paths["/api/plain"] = Scripted(404, b"not here", "text/plain")
    upstream.paths["/api/empty"] = Scripted(503, b"", "")
    for path, status in (("/api/plain", 404), ("/api/empty", 503)):
        response = client.get(path)
        assert response.status_code == status
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["status"] == status


def test_upstream_problem_passes_through_with_the_request_id(client, upstream):
    upstream.status = 409
    upstream.content_type = "application/problem+json"
    upstream.headers = {"WWW-Authenticate": "Bearer"}
    upstream.body = b'{"type":"about:blank","title":"Conflict","status":409,"detail":"taken"}'
    response = client.post("/auth/register", json={}, headers={"X-Request-ID": "rid-9"})
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["detail"] == "taken"
    assert body["request_id"] == "rid-9"


def test_an_oauth_error_keeps_its_json_media_type_and_its_challenge(client, upstream):
    """RFC 6749 5.2 wants application/json; auth's body is a problem document as well."""
    upstream.status, upstream.content_type = 401, "application/json"
    upstream.headers = {"WWW-Authenticate": 'Basic error="invalid_client"'}
    upstream.body = json.dumps(
        {
            "type": "about:blank",
            "title": "Unauthorized",
            "status": 401,
            "detail": "Wrong secret.",
            "instance": "/auth/token",
            "error": "invalid_client",
            "error_description": "Wrong secret.",
        }
    ).encode()
    response = client.post("/auth/token", data={"grant_type": "x"}, headers={"X-Request-ID": "r1"})
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["WWW-Authenticate"] == 'Basic error="invalid_client"'
    body = response.get_json()
    assert (body["error"], body["detail"], body["request_id"]) == (
        "invalid_client",
        "Wrong secret.",
        "r1",
    )


def test_upstream_json_of_another_shape_never_shows(client, upstream):
    upstream.status, upstream.content_type = 400, "application/json"
    upstream.body = b'{"status": 400, "secret": "internal detail"}'
    response = client.get("/api/items")
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert "secret" not in response.get_json()


def test_upstream_validation_errors_pass_through_unchanged(client, upstream):
    problem = {
        "type": "/problems/validation-error",
        "title": "Validation failed",
        "status": 422,
        "detail": "bad",
        "instance": "/api/items",
        "request_id": "from-upstream",
        "errors": [{"field": "name", "message": "required"}],
    }
    upstream.status, upstream.content_type = 422, "application/problem+json"
    upstream.body = json.dumps(problem).encode()
    assert client.post("/api/items", json={}).get_json() == problem


def test_not_modified_passes_through(client, upstream):
    upstream.status, upstream.body, upstream.headers = 304, b"", {"ETag": '"v1"'}
    response = client.get("/api/items/1", headers={"If-None-Match": '"v1"'})
    assert response.status_code == 304
    assert response.headers["ETag"] == '"v1"'


def test_refused_connection_is_502(make_app):
    client = make_app(CONTENT_SERVICE_URL=f"http://127.0.0.1:{closed_port()}").test_client()
    response = client.get("/api/items")
    assert response.status_code == 502
    assert response.mimetype == "application/problem+json"


def test_slow_upstream_is_504(client, upstream):
    upstream.delay = 2.0
    response = client.get("/api/items")
    assert response.status_code == 504
    assert response.mimetype == "application/problem+json"


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


@pytest.mark.parametrize(
    ("sent", "received"),
    [
        ("/api/items/%C3%A9t%C3%A9", "/api/items/%C3%A9t%C3%A9"),  # non-ASCII, as sent
        ("/api/items/%2525", "/api/items/%2525"),  # a literal %25 stays one
        ("/api/items/a%3Fb?q=%C3%A9&x=1", "/api/items/a%3Fb?q=%C3%A9&x=1"),
        ("/api/items/%F2%88%9E%81", "/api/items/%F2%88%9E%81"),  # not UTF-8 at all
    ],
)
def test_the_path_reaches_the_upstream_as_the_client_encoded_it(client, upstream, sent, received):
    answer = client.get(sent)
    assert answer.status_code == 200
    assert upstream.seen[-1]["raw_uri"] == received
