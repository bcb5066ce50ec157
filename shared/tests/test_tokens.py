"""The common verifier refuses every classic JWT attack."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from shared.testing import TokenFactory
from shared.tokens import InvalidToken, JwksCache, TokenVerifier


@pytest.fixture
def factory() -> TokenFactory:
    return TokenFactory()


@pytest.fixture
def verifier(factory: TokenFactory) -> TokenVerifier:
    return TokenVerifier(JwksCache(factory.jwks), "http://127.0.0.1:8000/auth", "flask-suite")


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_valid_token(verifier, factory):
    claims = verifier.verify(factory.token(7, "bob"))
    assert claims["sub"] == "7"


def test_alg_none_is_refused(verifier, factory):
    claims = factory.claims(7)
    token = f"{_b64({'alg': 'none', 'kid': factory.kid})}.{_b64(claims)}."
    with pytest.raises(InvalidToken):
        verifier.verify(token)


def test_hs256_with_public_key_is_refused(verifier, factory):
    from cryptography.hazmat.primitives import serialization

    public_pem = factory.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64({"alg": "HS256", "kid": factory.kid, "typ": "JWT"})
    payload = _b64(factory.claims(7))
    import hashlib
    import hmac

    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    token = f"{header}.{payload}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    with pytest.raises(InvalidToken):
        verifier.verify(token)


def test_stripped_signature_is_refused(verifier, factory):
    header, payload, _ = factory.token(7).split(".")
    with pytest.raises(InvalidToken):
        verifier.verify(f"{header}.{payload}.")


def test_tampered_payload_is_refused(verifier, factory):
    header, _, signature = factory.token(7).split(".")
    payload = _b64(factory.claims(7, roles=["admin"]))
    with pytest.raises(InvalidToken):
        verifier.verify(f"{header}.{payload}.{signature}")


@pytest.mark.parametrize(
    "override",
    [
        {"aud": "someone-else"},
        {"iss": "evil"},
        {"exp": int(time.time()) - 60},
        {"type": "refresh"},
        {"sub": 7},
    ],
)
def test_wrong_claims_are_refused(verifier, factory, override):
    token = jwt.encode(
        {**factory.claims(7), **override},
        factory.private_key,
        "RS256",
        headers={"kid": factory.kid},
    )
    with pytest.raises(InvalidToken):
        verifier.verify(token)


def test_missing_claim_is_refused(verifier, factory):
    claims = factory.claims(7)
    del claims["jti"]
    token = jwt.encode(claims, factory.private_key, "RS256", headers={"kid": factory.kid})
    with pytest.raises(InvalidToken):
        verifier.verify(token)


def test_embedded_jwk_header_is_ignored(verifier):
    attacker = TokenFactory()
    jwk = attacker.jwks()["keys"][0]
    token = attacker.token(7, headers={"jwk": jwk, "jku": "http://evil.example/jwks"})
    with pytest.raises(InvalidToken, match="unknown signing key"):
        verifier.verify(token)


def test_unknown_kid_refetches_at_most_once_per_cooldown(factory):
    calls = []

    def source():
        calls.append(1)
        return factory.jwks()

    cache = JwksCache(source, cooldown=60)
    verifier = TokenVerifier(cache, "http://127.0.0.1:8000/auth", "flask-suite")
    verifier.verify(factory.token(1))
    for _ in range(5):
        with pytest.raises(InvalidToken):
            verifier.verify(TokenFactory().token(1))
    assert len(calls) == 1


@pytest.mark.parametrize(
    "typ",
    [
        pytest.param(None, id="no typ"),
        pytest.param("JWT", id="JWT (an ID token's)"),
        pytest.param("refresh+jwt", id="a refresh token's"),
        pytest.param("at+jwt+evil", id="look-alike"),
    ],
)
def test_a_bearer_token_must_be_typed_at_jwt(verifier, factory, typ):
    """RFC 9068 / RFC 8725 3.11: nothing but `at+jwt` is an access token, whatever its claims."""
    # PyJWT leaves `typ` out when it is given as None.
    token = factory.token(7, headers={"typ": typ})
    assert jwt.get_unverified_header(token).get("typ") == typ
    with pytest.raises(InvalidToken, match="at\\+jwt"):
        verifier.verify(token)


def test_the_full_media_type_is_accepted(verifier, factory):
    token = factory.token(7, headers={"typ": "application/at+JWT"})
    assert verifier.verify(token)["sub"] == "7"


def test_a_refresh_token_is_refused_as_access_and_the_reverse(verifier, factory):
    refresh = factory.token(7, type="refresh")
    with pytest.raises(InvalidToken):
        verifier.verify(refresh)
    assert verifier.verify(refresh, expected_type="refresh")["type"] == "refresh"
    with pytest.raises(InvalidToken):
        verifier.verify(factory.token(7), expected_type="refresh")


def test_an_access_token_needs_a_client_id(verifier, factory):
    claims = factory.claims(7)
    del claims["client_id"]
    token = jwt.encode(
        claims, factory.private_key, "RS256", headers={"kid": factory.kid, "typ": "at+jwt"}
    )
    with pytest.raises(InvalidToken, match="client_id"):
        verifier.verify(token)
