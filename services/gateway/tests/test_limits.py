"""Rate limits on Redis: per user with a valid token, per address otherwise."""

from __future__ import annotations

import http.client

from conftest import closed_port


def test_anonymous_clients_are_limited_per_address(make_app):
    app = make_app(RATE_LIMIT_ANONYMOUS="3/minute")
    client = app.test_client()
    statuses = [client.get("/api/items").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    limited = client.get("/api/items", headers={"X-Request-ID": "rl-1"})
    assert limited.status_code == 429
    assert limited.mimetype == "application/problem+json"
    assert limited.get_json()["request_id"] == "rl-1"
    assert 1 <= int(limited.headers["Retry-After"]) <= 61
    assert limited.headers["RateLimit-Limit"] == "3"
    assert limited.headers["RateLimit-Remaining"] == "0"
    assert 0 <= int(limited.headers["RateLimit-Reset"]) <= 60
    # Another address has its own budget (all of 127.0.0.0/8 is this machine).
    other = http.client.HTTPConnection("127.0.0.1", app.port, source_address=("127.0.0.2", 0))
    other.request("GET", "/api/items")
    assert other.getresponse().status == 200
    other.close()


def test_answers_carry_ratelimit_headers_without_retry_after(make_app):
    client = make_app(RATE_LIMIT_ANONYMOUS="10/minute").test_client()
    response = client.get("/api/items")
    assert response.headers["RateLimit-Limit"] == "10"
    assert response.headers["RateLimit-Remaining"] == "9"
    assert "Retry-After" not in response.headers


def test_users_with_valid_tokens_are_limited_per_user(make_app, tokens):
    client = make_app(RATE_LIMIT="2/minute", RATE_LIMIT_ANONYMOUS="100/minute").test_client()
    alice, bob = tokens.bearer(1, "alice"), tokens.bearer(2, "bob")
    statuses = [client.get("/api/items", headers=alice).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert client.get("/api/items", headers=bob).status_code == 200
    # The same address without a token still has its own (anonymous) budget.
    assert client.get("/api/items").status_code == 200


def test_a_trusted_proxy_client_address_is_the_key(make_app):
    client = make_app(RATE_LIMIT_ANONYMOUS="1/minute", TRUSTED_PROXIES="127.0.0.1").test_client()

    def via_proxy(client_ip: str) -> int:
        return client.get("/api/items", headers={"X-Forwarded-For": client_ip}).status_code

    assert [via_proxy("198.51.100.1"), via_proxy("198.51.100.2"), via_proxy("198.51.100.1")] == [
        200,
        200,
        429,
    ]


def test_a_client_cannot_dodge_the_limit_with_forwarding_headers(make_app):
    client = make_app(RATE_LIMIT_ANONYMOUS="1/minute").test_client()
    assert client.get("/api/items", headers={"X-Forwarded-For": "1.1.1.1"}).status_code == 200
    assert client.get("/api/items", headers={"X-Forwarded-For": "2.2.2.2"}).status_code == 429


def test_health_and_docs_are_never_limited(make_app):
    client = make_app(RATE_LIMIT_ANONYMOUS="1/minute").test_client()
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
        assert client.get("/metrics").status_code == 200


def test_limits_fail_open_to_memory_when_redis_is_down(make_app, caplog):
    client = make_app(
        REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0", RATE_LIMIT_ANONYMOUS="2/minute"
    ).test_client()
    statuses = [client.get("/api/items").status_code for _ in range(3)]
    # Requests are served; each worker keeps counting in its memory meanwhile.
    assert statuses == [200, 200, 429]
