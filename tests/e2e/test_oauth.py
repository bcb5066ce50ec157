"""Auth as an OAuth 2.1 / OpenID Connect provider, through the gateway, with authlib's client.

The code flow with the hosted login page is driven in Chromium by tests/browser/test_oauth_login.py;
these tests need no browser.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.discovery import OpenIDProviderMetadata

ROOT = Path(__file__).resolve().parents[2]
FLASK = Path(sys.executable).parent / "flask"

# OpenID Connect Discovery 1.0 section 3: what a provider's document MUST hold.
OIDC_REQUIRED = (
    "issuer",
    "authorization_endpoint",
    "token_endpoint",  # required unless only the implicit flow is served
    "jwks_uri",
    "response_types_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
)


@pytest.fixture(scope="module")
def discovery(stack) -> dict:
    response = requests.get(f"{stack.gateway}/auth/.well-known/openid-configuration", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()


def create_client(stack, *args: str) -> dict[str, str]:
    """`flask create-client` on the stack's own database, as an operator would run it."""
    env = {
        **os.environ,
        "APP_ENV": "development",
        "AUTH_DATABASE_URL": stack.env.get("AUTH_DATABASE_URL")
        or f"sqlite:///{stack.state_dir / 'auth.sqlite3'}",
        "LOG_LEVEL": "WARNING",
    }
    result = subprocess.run(
        [str(FLASK), "--app", "auth_service", "create-client", "--name", "e2e", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)


def test_discovery_meets_the_oidc_discovery_spec(stack, discovery):
    issuer = f"{stack.gateway}/auth"
    # Discovery 4.3: the issuer in the document is exactly the one it was fetched under.
    assert discovery["issuer"] == issuer
    for field in OIDC_REQUIRED:
        assert discovery.get(field), field
    assert "code" in discovery["response_types_supported"]
    assert "RS256" in discovery["id_token_signing_alg_values_supported"]
    assert "openid" in discovery["scopes_supported"]
    assert discovery["code_challenge_methods_supported"] == ["S256"]
    for field, value in discovery.items():
        if field.endswith(("_endpoint", "_uri")):
            assert value.startswith(issuer + "/"), field
    # Every advertised endpoint is reachable through the gateway.
    assert requests.get(discovery["jwks_uri"], timeout=10).json()["keys"]
    OpenIDProviderMetadata(discovery).validate()
    rfc8414 = requests.get(f"{issuer}/.well-known/oauth-authorization-server", timeout=10)
    assert rfc8414.json() == discovery
    AuthorizationServerMetadata(rfc8414.json()).validate()


def test_tokens_carry_the_discovered_issuer(discovery, user):
    claims = jwt.decode(user["tokens"]["access_token"], options={"verify_signature": False})
    assert claims["iss"] == discovery["issuer"]


@pytest.mark.local_stack
def test_client_credentials_with_authlib(stack, discovery):
    made = create_client(stack, "--grant-type", "client_credentials", "--scope", "profile")
    session = OAuth2Session(made["client_id"], made["client_secret"], scope="profile")
    token = session.fetch_token(discovery["token_endpoint"], grant_type="client_credentials")
    assert token["scope"] == "profile" and "refresh_token" not in token
    key = jwt.PyJWKClient(discovery["jwks_uri"]).get_signing_key_from_jwt(token["access_token"])
    assert jwt.get_unverified_header(token["access_token"])["typ"] == "at+jwt"
    claims = jwt.decode(
        token["access_token"],
        key.key,
        algorithms=["RS256"],
        audience="flask-suite",
        issuer=discovery["issuer"],
    )
    assert claims["sub"] == claims["client_id"] == made["client_id"]
    # Introspection by the same confidential client (a resource server would do this).
    active = session.post(
        discovery["introspection_endpoint"],
        data={"token": token["access_token"]},
        auth=(made["client_id"], made["client_secret"]),
        timeout=10,
    )
    assert active.json()["active"] is True
    session.revoke_token(discovery["revocation_endpoint"], token["access_token"])
    after = requests.post(
        discovery["introspection_endpoint"],
        data={"token": token["access_token"]},
        auth=(made["client_id"], made["client_secret"]),
        timeout=10,
    )
    assert after.json() == {"active": False}


@pytest.mark.local_stack
def test_a_wrong_secret_is_an_rfc_6749_error_authlib_understands(stack, discovery):
    made = create_client(stack, "--grant-type", "client_credentials")
    session = OAuth2Session(made["client_id"], "not-the-secret")
    with pytest.raises(OAuthError) as refused:
        session.fetch_token(discovery["token_endpoint"], grant_type="client_credentials")
    assert refused.value.error == "invalid_client"
    assert session.token is None  # nothing stored as if it were a token


@pytest.mark.local_stack
@pytest.mark.parametrize(
    "endpoint", ["token_endpoint", "revocation_endpoint", "introspection_endpoint"]
)
def test_oauth_errors_through_the_gateway_are_rfc_6749_json_and_problems(
    stack, discovery, endpoint
):
    made = create_client(stack, "--grant-type", "client_credentials")
    form = {"grant_type": "client_credentials"} if endpoint == "token_endpoint" else {"token": "x"}
    response = requests.post(
        discovery[endpoint],
        data=form,
        auth=(made["client_id"], "not-the-secret"),
        headers={"X-Request-ID": "oauth-error-1"},
        timeout=10,
    )
    # RFC 6749 5.2: 401, the scheme the client tried, a JSON body with `error`.
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["error"] == "invalid_client"
    # ...and the suite's problem document, as every other error of the suite.
    assert body["status"] == 401 and body["title"] and body["detail"] and body["type"]
    assert body["instance"] == urlsplit(discovery[endpoint]).path
    assert body["request_id"] == "oauth-error-1"
    assert not {"access_token", "active"} & body.keys()


@pytest.mark.local_stack
def test_a_bad_refresh_token_is_an_invalid_grant_authlib_raises(stack, discovery):
    made = create_client(
        stack,
        "--public",
        "--redirect-uri",
        "http://127.0.0.1:9/cb",
        "--grant-type",
        "refresh_token",
    )
    session = OAuth2Session(made["client_id"], token_endpoint_auth_method="none")
    with pytest.raises(OAuthError) as refused:
        session.refresh_token(discovery["token_endpoint"], refresh_token="not-a-token")
    assert refused.value.error == "invalid_grant"
    assert session.token is None


@pytest.mark.local_stack
def test_a_public_client_cannot_use_client_credentials(stack, discovery):
    made = create_client(
        stack,
        "--public",
        "--redirect-uri",
        "http://127.0.0.1:9/cb",
        "--grant-type",
        "refresh_token",
    )
    response = requests.post(
        discovery["token_endpoint"],
        data={"grant_type": "client_credentials", "client_id": made["client_id"]},
        timeout=10,
    )
    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"
    assert "access_token" not in response.json()


def test_the_token_endpoint_wants_a_form(discovery):
    response = requests.post(
        discovery["token_endpoint"], json={"grant_type": "client_credentials"}, timeout=10
    )
    assert response.status_code in (400, 401)
    assert response.json()["error"] in ("invalid_request", "unsupported_grant_type")
