"""Service-wide behaviour: health, readiness, request ids and problem+json errors."""

from __future__ import annotations


def test_healthz_and_readyz(client):
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"database": "ok", "redis": "ok"}


def test_request_id_is_echoed_or_minted(client):
    assert (
        client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"]
        == "abc-123"
    )
    minted = client.get("/healthz", headers={"X-Request-ID": "bad id!"}).headers["X-Request-ID"]
    assert minted != "bad id!"
    assert len(minted) == 32


def test_unknown_route_is_problem_json(client):
    response = client.get("/nope", headers={"X-Request-ID": "rid-1"})
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert set(body) >= {"type", "title", "status", "detail", "instance", "request_id"}
    assert body["request_id"] == "rid-1"
    assert body["instance"] == "/nope"


def test_method_not_allowed_keeps_allow_header(client):
    response = client.delete("/api/items")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]


def test_unexpected_error_hides_the_traceback(app, client):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = client.get("/boom")
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    assert "secret internals" not in response.get_data(as_text=True)


def test_redis_down_fails_closed_for_writes_but_reads_work(app, auth_headers):
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    from shared.redis_store import init_redis

    init_redis(app)
    client = app.test_client()
    assert client.get("/api/items").status_code == 200
    response = client.post("/api/items", json={"name": "x", "price": 1}, headers=auth_headers)
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
