"""CORS, strictly: exact origins with credentials, preflights at the gateway, headers on errors."""

from __future__ import annotations

import pytest
from conftest import closed_port

from gateway_service.cors import EXPOSED
from shared.config import ConfigError

ALLOWED = "http://localhost:5173"


def test_an_allowed_origin_gets_itself_back_with_credentials(client):
    response = client.get("/api/items", headers={"Origin": ALLOWED})
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in response.headers["Vary"]
    exposed_header = response.headers["Access-Control-Expose-Headers"]
    exposed = {h.strip().lower() for h in exposed_header.split(",")}
    assert exposed == {h.lower() for h in EXPOSED}


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "null", "http://localhost:5173.evil.example", "http://localhost"],
)
def test_any_other_origin_gets_no_cors_headers(client, origin):
    response = client.get("/api/items", headers={"Origin": origin})
    assert response.status_code == 200
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]


def test_preflight_is_answered_here_without_a_token(client, upstream):
    response = client.options(
        "/api/items",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type, Idempotency-Key",
        },
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert {"authorization", "content-type", "idempotency-key"} <= {
        h.strip() for h in allowed.split(",")
    }
    assert response.headers["Access-Control-Max-Age"] == "600"
    assert upstream.seen == []


def test_preflight_from_a_foreign_origin_gets_nothing(client, upstream):
    response = client.options(
        "/api/items",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "DELETE"},
    )
    assert "Access-Control-Allow-Origin" not in response.headers
    assert upstream.seen == []


def test_error_answers_carry_cors_headers(make_app, client):
    headers = {"Origin": ALLOWED, "Authorization": "Bearer x"}
    unauthorized = client.get("/api/items", headers=headers)
    assert unauthorized.status_code == 401
    assert unauthorized.headers["Access-Control-Allow-Origin"] == ALLOWED
    down = make_app(CONTENT_SERVICE_URL=f"http://127.0.0.1:{closed_port()}").test_client()
    bad_gateway = down.get("/api/items", headers={"Origin": ALLOWED})
    assert bad_gateway.status_code == 502
    assert bad_gateway.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "X-Request-ID" in bad_gateway.headers["Access-Control-Expose-Headers"]


def test_upstream_cors_opinions_are_dropped(client, upstream):
    upstream.headers = {"Access-Control-Allow-Origin": "*"}
    response = client.get("/api/items", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize(
    "origins",
    [
        "*",
        "null",
        "http://localhost:3000,*",
        "https://*.example.com",
        "example.com",
        "https://app.example.com/",
    ],
)
def test_only_exact_origins_are_accepted_in_configuration(make_app, origins):
    with pytest.raises(ConfigError):
        make_app(CORS_ORIGINS=origins)


@pytest.mark.parametrize("origin", [ALLOWED, None])
def test_one_vary_header_names_origin_beside_the_upstreams(client, upstream, origin):
    upstream.headers = {"Vary": "Accept-Encoding, origin"}
    response = client.get("/api/items", headers={"Origin": origin} if origin else {})
    assert response.getlist("Vary") == ["Accept-Encoding, origin"]
    upstream.headers = {"Vary": "Accept"}
    response = client.get("/api/items", headers={"Origin": origin} if origin else {})
    assert response.getlist("Vary") == ["Accept, Origin"]
