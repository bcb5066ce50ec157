"""Login: token pairs in the contract shape, and identical failures."""

from __future__ import annotations

import jwt
import pytest
from test_verification import verify


def test_login_returns_a_token_pair(client, register, login):
    account = register()
    pair = login()
    assert set(pair) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert pair["token_type"] == "Bearer"
    assert pair["expires_in"] == 15 * 60
    header = jwt.get_unverified_header(pair["access_token"])
    assert header["alg"] == "RS256"
    assert header["kid"]
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    assert claims["sub"] == str(account["id"])
    assert claims["type"] == "access"
    assert claims["username"] == "alice"
    for name in ("iss", "aud", "iat", "nbf", "exp", "jti", "roles"):
        assert name in claims
    assert jwt.decode(pair["refresh_token"], options={"verify_signature": False})["type"] == (
        "refresh"
    )


def test_login_by_email_and_no_store(app, client, register):
    register()
    by_address = {"username": "ALICE@example.com", "password": "correct horse battery"}
    # An address names an account only once verified (several may show it until then).
    assert client.post("/auth/login", json=by_address).status_code == 401
    verify(app, client, "alice@example.com")
    response = client.post("/auth/login", json=by_address)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("username", ["alice", "nobody"])
def test_unknown_user_and_wrong_password_look_the_same(client, register, username):
    register()
    response = client.post("/auth/login", json={"username": username, "password": "wrong pass"})
    assert response.status_code == 401
    body = response.get_json()
    assert body["detail"] == "Invalid username or password."
    assert body["type"] == "about:blank"


def test_megabyte_password_is_refused_quickly(client, register):
    register()
    response = client.post("/auth/login", json={"username": "alice", "password": "x" * 1_000_000})
    assert response.status_code in (401, 413)


def test_jwks_verifies_issued_tokens(client, register, login):
    register()
    pair = login()
    jwks = client.get("/auth/.well-known/jwks.json").get_json()
    assert all("d" not in key for key in jwks["keys"])
    kid = jwt.get_unverified_header(pair["access_token"])["kid"]
    key = jwt.PyJWKSet.from_dict(jwks)[kid]
    claims = jwt.decode(
        pair["access_token"],
        key.key,
        algorithms=["RS256"],
        audience="flask-suite",
        issuer="http://127.0.0.1:8000/auth",
    )
    assert claims["username"] == "alice"
