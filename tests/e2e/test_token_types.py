"""RFC 9068 access tokens, checked by JOSE libraries nobody here wrote (PyJWT, joserfc).

A generic validator that pins the issuer, the audience and the `typ` header takes the suite's
access token and refuses its refresh token, so a 14-day refresh token cannot stand in for a
15-minute access token anywhere (RFC 8725 3.11).
"""

from __future__ import annotations

import jwt
import pytest
import requests
from joserfc import jwk
from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError

AUDIENCE = "flask-suite"
FIRST_PARTY_SCOPES = {"profile", "items:write", "posts:write"}


def pyjwt_access_claims(jwks_url: str, issuer: str, token: str) -> dict:
    """What a resource server using PyJWT's PyJWKClient does with an RFC 9068 token."""
    if jwt.get_unverified_header(token).get("typ") != "at+jwt":
        raise jwt.InvalidTokenError("not an access token")
    key = jwt.PyJWKClient(jwks_url).get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience=AUDIENCE,
        issuer=issuer,
        options={"require": ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"]},
    )


def joserfc_access_claims(key_set: jwk.KeySet, issuer: str, token: str) -> dict:
    """The same check with joserfc: signature, `typ`, then the RFC 9068 claims."""
    decoded = jose_jwt.decode(token, key_set, algorithms=["RS256"])
    if decoded.header.get("typ") != "at+jwt":
        raise JoseError("not an access token")
    registry = jose_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": AUDIENCE},
        exp={"essential": True},
        sub={"essential": True},
        client_id={"essential": True},
        iat={"essential": True},
        jti={"essential": True},
    )
    registry.validate(decoded.claims)
    return decoded.claims


@pytest.fixture
def jwks_url(gateway: str) -> str:
    return f"{gateway}/auth/.well-known/jwks.json"


@pytest.fixture
def issuer(gateway: str) -> str:
    """The issuer as the discovery document names it (auth's URL through the gateway)."""
    metadata = requests.get(f"{gateway}/auth/.well-known/openid-configuration", timeout=10)
    return metadata.json()["issuer"]


def test_pyjwt_takes_the_access_token_and_refuses_the_refresh_token(jwks_url, issuer, user):
    claims = pyjwt_access_claims(jwks_url, issuer, user["tokens"]["access_token"])
    assert claims["sub"] == str(user["account"]["id"])
    assert claims["client_id"] == "flask-suite"
    assert set(claims["scope"].split()) == FIRST_PARTY_SCOPES
    with pytest.raises(jwt.InvalidTokenError):
        pyjwt_access_claims(jwks_url, issuer, user["tokens"]["refresh_token"])


def test_joserfc_takes_the_access_token_and_refuses_the_refresh_token(jwks_url, issuer, user):
    key_set = jwk.KeySet.import_key_set(requests.get(jwks_url, timeout=10).json())
    claims = joserfc_access_claims(key_set, issuer, user["tokens"]["access_token"])
    assert claims["sub"] == str(user["account"]["id"])
    refresh = jose_jwt.decode(user["tokens"]["refresh_token"], key_set, algorithms=["RS256"])
    assert refresh.header["typ"] == "refresh+jwt"  # signed by auth, yet typed otherwise
    with pytest.raises(JoseError):
        joserfc_access_claims(key_set, issuer, user["tokens"]["refresh_token"])


def test_gateway_and_content_refuse_a_refresh_token_as_bearer(gateway, user):
    bearer = {"Authorization": f"Bearer {user['tokens']['refresh_token']}"}
    write = requests.post(
        f"{gateway}/api/items", json={"name": "Lamp", "price": 1}, headers=bearer, timeout=10
    )
    assert write.status_code == 401
    assert write.headers["WWW-Authenticate"].startswith("Bearer")
    mine = requests.get(
        f"{gateway}/api/items", params={"q": "Lamp"}, headers=user["headers"], timeout=10
    )
    assert all(item["owner_id"] != user["account"]["id"] for item in mine.json())
    assert requests.get(f"{gateway}/auth/me", headers=bearer, timeout=10).status_code == 401
