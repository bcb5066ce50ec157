"""The JWT check at the edge: bad tokens stop here, no token passes as anonymous."""

from __future__ import annotations

import time

import pytest
from conftest import closed_port


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


def test_a_clients_basic_credentials_reach_auths_token_endpoint(client, upstream):
    """RFC 6749 2.3.1: there Authorization is the OAuth client's, for auth to check."""
    basic = {"Authorization": "Basic Y2xpZW50OnNlY3JldA=="}
    client.post("/auth/token", data={"grant_type": "client_credentials"}, headers=basic)
    assert upstream.seen[-1]["headers"]["Authorization"] == basic["Authorization"]
    # Elsewhere the same header is still a bad bearer token.
    assert client.post("/auth/logout", headers=basic).status_code == 401
    assert len(upstream.seen) == 1


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


def test_a_token_revoked_after_its_first_use_is_refused(client, upstream, tokens, redis_server):
    claims = tokens.claims(4, "ola")
    headers = {"Authorization": f"Bearer {tokens.token(4, 'ola', jti=claims['jti'])}"}
    assert client.get("/api/items", headers=headers).status_code == 200
    redis_server.set(f"revoked:jti:{claims['jti']}", "1", ex=60)
    assert client.get("/api/items", headers=headers).status_code == 401


def test_redis_down_fails_closed_for_tokens_and_open_for_anonymous(make_app, tokens):
    client = make_app(REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0").test_client()
    refused = client.get("/api/items", headers=tokens.bearer(1, "a"))
    assert refused.status_code == 503
    assert refused.headers["Retry-After"]
    assert client.get("/api/items").status_code == 200


def test_verified_tokens_are_remembered_for_a_while_only(monkeypatch):
    from gateway_service.edge_auth import CachingTokenVerifier
    from shared.testing import TokenFactory
    from shared.tokens import JwksCache, TokenVerifier

    checks: list[str] = []
    full_check = TokenVerifier.decode

    def counting(self, token, expected_type="access"):
        checks.append(token)
        return full_check(self, token, expected_type)

    monkeypatch.setattr(TokenVerifier, "decode", counting)
    factory = TokenFactory()
    token = factory.token(1)
    for max_age, expected_checks in ((60.0, 1), (0.0, 3)):
        checks.clear()
        verifier = CachingTokenVerifier(
            JwksCache(factory.jwks), factory.issuer, factory.audience, max_age=max_age
        )
        for _ in range(3):
            assert verifier.decode(token)["sub"] == "1"
        assert len(checks) == expected_checks
