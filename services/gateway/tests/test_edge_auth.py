"""The JWT check at the edge: bad tokens stop here, no token passes as anonymous."""

from __future__ import annotations

import time

import pytest


def test_no_token_passes_through_as_anonymous(client, upstream):
    assert client.get("/api/items").status_code == 200
    assert "Authorization" not in upstream.seen[-1]["headers"]


def test_a_valid_token_is_passed_on_for_the_service_to_verify_again(client, upstream, tokens):
    headers = tokens.bearer(7, "grace")
    assert client.get("/api/items", headers=headers).status_code == 200
    assert upstream.seen[-1]["headers"]["Authorization"] == headers["Authorization"]


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer", "Token abc"],
)
def test_a_bad_authorization_header_is_401_even_on_a_public_read(client, upstream, authorization):
    response = client.get("/api/items", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert upstream.seen == []


def test_expired_and_foreign_tokens_are_401(client, upstream, tokens):
    expired = tokens.token(1, exp=int(time.time()) - 60, iat=int(time.time()) - 120)
    wrong_audience = tokens.token(1, aud="someone-else")
    for token in (expired, wrong_audience):
        response = client.get("/api/items", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
    assert upstream.seen == []


def test_a_revoked_token_is_401_at_the_edge(client, upstream, tokens, redis_server):
    claims = tokens.claims(3, "rita")
    token = tokens.token(3, "rita", jti=claims["jti"])
    redis_server.set(f"revoked:jti:{claims['jti']}", "1", ex=60)
    response = client.get("/api/items", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert upstream.seen == []


def test_refresh_tokens_only_where_a_refresh_token_belongs(client, upstream, tokens):
    refresh = {"Authorization": f"Bearer {tokens.token(1, type='refresh')}"}
    assert client.post("/auth/refresh", headers=refresh).status_code == 200
    assert client.get("/api/items", headers=refresh).status_code == 401


def test_me_requires_a_token(client):
    response = client.get("/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_own_endpoints_ignore_the_authorization_header(client):
    headers = {"Authorization": "Bearer junk"}
    assert client.get("/healthz", headers=headers).status_code == 200
    assert client.get("/metrics", headers=headers).status_code == 200
