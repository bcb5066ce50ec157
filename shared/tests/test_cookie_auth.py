"""A browser's access cookie stands in for the bearer token, with a CSRF double submit."""

from __future__ import annotations

import pytest
from flask import Flask, jsonify

from shared.auth import authenticate, init_token_verifier, optional_auth
from shared.cookie_auth import ACCESS_COOKIE, CSRF_FORM_FIELD, CSRF_HEADER
from shared.problems import init_problem_handlers
from shared.testing import TokenFactory
from shared.tokens import JwksCache

CSRF = "5e0d3c1a0f9e4b7c8d6a5f4e3d2c1b0a"


@pytest.fixture
def factory() -> TokenFactory:
    return TokenFactory()


@pytest.fixture
def client(factory: TokenFactory):
    app = Flask(__name__)
    app.config.update(JWT_ISSUER=factory.issuer, JWT_AUDIENCE=factory.audience)
    init_problem_handlers(app)
    init_token_verifier(app, JwksCache(factory.jwks), revocations=None)

    @app.route("/private", methods=["GET", "POST", "DELETE"])
    def private():
        return jsonify(id=authenticate().id)

    @app.get("/public")
    def public():
        principal = optional_auth()
        return jsonify(id=principal.id if principal else None)

    return app.test_client()


@pytest.fixture
def cookie(factory: TokenFactory) -> str:
    return factory.token(7, "bob", csrf=CSRF)


def test_cookie_authenticates_a_safe_request(client, cookie):
    client.set_cookie(ACCESS_COOKIE, cookie)
    response = client.get("/private")
    assert response.status_code == 200
    assert response.json == {"id": 7}


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_unsafe_request_by_cookie_needs_the_csrf_token(client, cookie, method):
    client.set_cookie(ACCESS_COOKIE, cookie)
    refused = client.open("/private", method=method)
    assert refused.status_code == 403
    assert refused.mimetype == "application/problem+json"
    wrong = client.open("/private", method=method, headers={CSRF_HEADER: "not-it"})
    assert wrong.status_code == 403
    accepted = client.open("/private", method=method, headers={CSRF_HEADER: CSRF})
    assert accepted.status_code == 200


def test_form_field_carries_the_csrf_token(client, cookie):
    client.set_cookie(ACCESS_COOKIE, cookie)
    response = client.post("/private", data={CSRF_FORM_FIELD: CSRF})
    assert response.status_code == 200


def test_bearer_token_needs_no_csrf_token(client, factory):
    response = client.post("/private", headers=factory.bearer(7))
    assert response.status_code == 200


def test_an_authorization_header_wins_over_the_cookie(client, cookie):
    client.set_cookie(ACCESS_COOKIE, cookie)
    response = client.get("/private", headers={"Authorization": "Basic abc"})
    assert response.status_code == 401


def test_an_invalid_cookie_is_401(client, factory):
    client.set_cookie(ACCESS_COOKIE, factory.token(7, exp=1))
    response = client.get("/private")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_stale_cookie_reads_public_pages_as_anonymous(client, factory):
    client.set_cookie(ACCESS_COOKIE, factory.token(7, exp=1))
    assert client.get("/public").json == {"id": None}


def test_a_valid_cookie_identifies_the_reader_of_public_pages(client, cookie):
    client.set_cookie(ACCESS_COOKIE, cookie)
    assert client.get("/public").json == {"id": 7}


def test_a_token_without_a_csrf_claim_is_bound_by_its_jti(client, factory):
    client.set_cookie(ACCESS_COOKIE, factory.token(7, "bob", jti=CSRF))
    assert client.post("/private", headers={CSRF_HEADER: CSRF}).status_code == 200
