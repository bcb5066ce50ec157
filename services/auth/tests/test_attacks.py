"""The classic token attacks against auth's own endpoints, and an independent verification."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import statistics
import time

import jwt
import pytest
from conftest import PASSWORD, bearer
from cryptography.hazmat.primitives import serialization
from jwcrypto import jwk, jws
from jwcrypto import jwt as jose_jwt


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture
def pair(register, login) -> dict:
    register()
    return login()


@pytest.fixture
def signing_key(app):
    return app.extensions["key_store"].ring().current


def claims_of(token: str) -> dict:
    return json.loads(unb64(token.split(".")[1]))


def assert_refused(client, token: str) -> None:
    response = client.get("/auth/me", headers=bearer(token))
    assert response.status_code == 401, response.get_json()
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.mimetype == "application/problem+json"


def test_alg_none_is_refused(client, pair):
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = pair["access_token"].split(".")[1]
    assert_refused(client, f"{header}.{payload}.")


def test_hs256_signed_with_the_public_key_is_refused(client, pair, signing_key):
    public_pem = signing_key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": signing_key.kid}).encode())
    payload = pair["access_token"].split(".")[1]
    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert_refused(client, f"{header}.{payload}.{b64(signature)}")


def test_a_tampered_payload_is_refused(client, pair):
    header, _, signature = pair["access_token"].split(".")
    claims = {**claims_of(pair["access_token"]), "roles": ["admin"]}
    assert_refused(client, f"{header}.{b64(json.dumps(claims).encode())}.{signature}")


def test_a_stripped_signature_is_refused(client, pair):
    header, payload, _ = pair["access_token"].split(".")
    assert_refused(client, f"{header}.{payload}.")
    assert_refused(client, f"{header}.{payload}")


@pytest.mark.parametrize(
    "override", [{"aud": "another-audience"}, {"iss": "another-issuer"}, {"exp": 1_000_000}]
)
def test_wrong_audience_issuer_or_expiry_is_refused_even_with_our_key(
    client, pair, signing_key, override
):
    claims = {**claims_of(pair["access_token"]), **override}
    forged = jwt.encode(
        claims, signing_key.private_key, algorithm="RS256", headers={"kid": signing_key.kid}
    )
    assert_refused(client, forged)


def test_a_refresh_token_is_not_an_access_token_and_the_reverse(client, pair):
    assert_refused(client, pair["refresh_token"])
    assert client.post("/auth/refresh", headers=bearer(pair["access_token"])).status_code == 401


def test_a_retired_refresh_token_cannot_be_redeemed(app, client, pair):
    app.config["REFRESH_REUSE_GRACE_SECONDS"] = 0
    assert client.post("/auth/refresh", headers=bearer(pair["refresh_token"])).status_code == 200
    assert client.post("/auth/refresh", headers=bearer(pair["refresh_token"])).status_code == 401


def test_an_attacker_key_in_the_header_is_ignored(client, pair):
    from shared.testing import TokenFactory

    attacker = TokenFactory()
    token = attacker.token(
        int(claims_of(pair["access_token"])["sub"]),
        headers={"jwk": attacker.jwks()["keys"][0], "jku": "http://attacker.example/jwks"},
    )
    assert_refused(client, token)


def test_an_independent_jose_library_verifies_our_token_from_the_jwks_alone(client, pair):
    key_set = jwk.JWKSet.from_json(client.get("/auth/.well-known/jwks.json").get_data(as_text=True))
    for key in key_set["keys"]:
        assert not key.has_private
    token = jose_jwt.JWT(
        jwt=pair["access_token"],
        key=key_set,
        algs=["RS256"],
        check_claims={"iss": "http://127.0.0.1:8000/auth", "aud": "flask-suite", "exp": None},
    )
    claims = json.loads(token.claims)
    assert claims["username"] == "alice" and claims["type"] == "access"
    assert isinstance(claims["sub"], str)
    # and it refuses a tampered copy
    header, _, signature = pair["access_token"].split(".")
    forged = f"{header}.{b64(json.dumps({**claims, 'roles': ['admin']}).encode())}.{signature}"
    key = key_set.get_key(json.loads(unb64(header))["kid"])
    with pytest.raises(jws.InvalidJWSSignature):
        jose_jwt.JWT(jwt=forged, key=key, algs=["RS256"])


def test_unknown_user_and_wrong_password_take_similar_time(make_app, redis_server):
    redis_server.flushall()
    # The real hashing parameters: the point is that both paths pay for one hash.
    app = make_app(
        ARGON2_TIME_COST=2, ARGON2_MEMORY_KIB=19 * 1024, LOGIN_MAX_FAILURES_PER_ACCOUNT=100
    )
    client = app.test_client()
    client.post(
        "/auth/register",
        json={"username": "alice", "email": "alice@example.com", "password": PASSWORD},
    )
    timings: dict[str, list[float]] = {"alice": [], "nobody": []}
    for _ in range(5):
        for name in timings:
            started = time.perf_counter()
            response = client.post("/auth/login", json={"username": name, "password": "wrong pass"})
            timings[name].append(time.perf_counter() - started)
            assert response.status_code == 401
    known, unknown = (statistics.median(timings[n]) for n in ("alice", "nobody"))
    # Generous: the machine is shared; a missing hash would be a ratio of 10 or more.
    assert 1 / 3 < known / unknown < 3
