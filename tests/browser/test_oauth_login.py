"""Log in from another app: authlib's OAuth2Session, the hosted login page in Chromium.

The app is a public client (PKCE S256) registered with `flask create-client`, whose redirect
URI is a loopback listener started here, as a native app's would be (RFC 8252 7.3).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from joserfc import jwk, jwt
from playwright.sync_api import expect
from test_session_flow import log_in, register

ROOT = Path(__file__).resolve().parents[2]

FLASK = Path(sys.executable).parent / "flask"


class Listener:
    """The app's loopback redirect URI: records each URL the browser is sent back to."""

    def __init__(self) -> None:
        self.caught: list[str] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/callback?"):  # not the browser's /favicon.ico
                    listener.caught.append(listener.redirect_uri + self.path[len("/callback") :])
                body = b"signed in; back to the app"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.redirect_uri = f"http://127.0.0.1:{self.server.server_address[1]}/callback"


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    running = Listener()
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


@pytest.fixture(scope="module")
def client_id(stack, listener) -> str:
    """A public client, registered as an operator would, on the stack's own database."""
    env = {
        **os.environ,
        "APP_ENV": "development",
        "AUTH_DATABASE_URL": stack.env.get("AUTH_DATABASE_URL")
        or f"sqlite:///{stack.state_dir / 'auth.sqlite3'}",
        "LOG_LEVEL": "WARNING",
    }
    args = ["create-client", "--name", "Development app", "--public"]
    result = subprocess.run(
        [str(FLASK), "--app", "auth_service", *args, "--redirect-uri", listener.redirect_uri],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split("client_id: ", 1)[1].split()[0]


@pytest.fixture
def discovery(gateway) -> dict:
    return requests.get(f"{gateway}/auth/.well-known/openid-configuration", timeout=10).json()


@pytest.fixture
def app_session(client_id, listener):
    def make(scope: str = "openid profile email items:write") -> OAuth2Session:
        return OAuth2Session(
            client_id,
            redirect_uri=listener.redirect_uri,
            scope=scope,
            code_challenge_method="S256",
            token_endpoint_auth_method="none",
        )

    return make


def authorize(session: OAuth2Session, discovery: dict) -> tuple[str, str, str, str]:
    verifier = generate_token(48)
    nonce = secrets.token_urlsafe(16)
    url, state = session.create_authorization_url(
        discovery["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    return url, state, verifier, nonce


def test_code_flow_with_pkce_through_the_hosted_login(
    page, gateway, new_user, discovery, app_session, client_id, listener
):
    register(page, gateway, new_user)
    session = app_session()
    url, state, verifier, nonce = authorize(session, discovery)
    caught = listener.caught
    before = len(caught)

    page.goto(url)
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    log_in(page, new_user)
    expect(page.get_by_role("heading", name="Allow Development app?")).to_be_visible()
    expect(page.get_by_text("Create and change items as you")).to_be_visible()
    page.get_by_role("button", name="Allow").click()
    expect(page.get_by_text("signed in; back to the app")).to_be_visible()
    assert len(caught) == before + 1

    token = session.fetch_token(
        discovery["token_endpoint"],
        authorization_response=caught[-1],
        state=state,
        code_verifier=verifier,
    )
    assert set(token["scope"].split()) == {"openid", "profile", "email", "items:write"}

    # The ID token, checked as an OpenID Connect client would.
    keys = jwk.KeySet.import_key_set(requests.get(discovery["jwks_uri"], timeout=10).json())
    id_token = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
    assert id_token.header["typ"] == "JWT"
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": discovery["issuer"]},
        aud={"essential": True, "value": client_id},
        nonce={"essential": True, "value": nonce},
        exp={"essential": True},
    ).validate(id_token.claims)
    assert id_token.claims["preferred_username"] == new_user["username"]

    # userinfo, then a write through the gateway with the app's access token.
    info = session.get(discovery["userinfo_endpoint"], timeout=10).json()
    assert info["email"] == new_user["email"] and info["sub"] == id_token.claims["sub"]
    item = session.post(f"{gateway}/api/items", json={"name": "From an app", "price": 3})
    assert item.status_code == 201, item.text
    post = session.post(f"{gateway}/api/posts", json={"title": "t", "content": "c"})
    assert post.status_code == 403  # posts:write was not asked for
    assert 'error="insufficient_scope"' in post.headers["WWW-Authenticate"]

    # Refresh rotates; revoking the refresh token ends the session everywhere.
    old = dict(token)
    fresh = session.refresh_token(discovery["token_endpoint"])
    assert fresh["refresh_token"] != old["refresh_token"]
    assert session.get(discovery["userinfo_endpoint"], timeout=10).status_code == 200
    revoked = session.revoke_token(
        discovery["revocation_endpoint"], fresh["refresh_token"], "refresh_token"
    )
    assert revoked.status_code == 200
    assert session.get(discovery["userinfo_endpoint"], timeout=10).status_code == 401
    with pytest.raises(OAuthError) as refused:
        session.refresh_token(discovery["token_endpoint"])
    assert refused.value.error == "invalid_grant"


def test_consent_is_remembered_and_login_goes_straight_back(
    browser_context, page, gateway, new_user, discovery, app_session, listener
):
    register(page, gateway, new_user)
    first = app_session()
    url, _, _, _ = authorize(first, discovery)
    caught = listener.caught
    page.goto(url)
    log_in(page, new_user)
    page.get_by_role("button", name="Allow").click()
    expect(page.get_by_text("signed in; back to the app")).to_be_visible()

    # Signed in: straight back, no page.
    url, state, _, _ = authorize(app_session(), discovery)
    page.goto(url)
    expect(page.get_by_text("signed in; back to the app")).to_be_visible()
    assert f"state={state}" in caught[-1] and "code=" in caught[-1]

    # Signed out (cookies gone): the login form leads on to the app (its CSP allows it).
    browser_context.clear_cookies()
    url, state, _, _ = authorize(app_session(), discovery)
    page.goto(url)
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    log_in(page, new_user)
    expect(page.get_by_text("signed in; back to the app")).to_be_visible()
    assert f"state={state}" in caught[-1] and "code=" in caught[-1]


def test_deny_sends_access_denied(page, gateway, new_user, discovery, app_session, listener):
    register(page, gateway, new_user)
    url, state, _, _ = authorize(app_session(), discovery)
    caught = listener.caught
    page.goto(url)
    log_in(page, new_user)
    page.get_by_role("button", name="Deny").click()
    expect(page.get_by_text("signed in; back to the app")).to_be_visible()
    assert "error=access_denied" in caught[-1] and f"state={state}" in caught[-1]
    assert "code=" not in caught[-1]
