"""Log in from another app: authlib's OAuth2Session, the hosted login page in Chromium.

The app is `make up`'s development client (public, PKCE S256, loopback redirect URI). Its
redirect URI has no server behind it: the browser's request to it is caught and answered
here, the way a native app's loopback listener would.
"""

from __future__ import annotations

import secrets

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from joserfc import jwk, jwt
from playwright.sync_api import Page, expect
from test_session_flow import log_in, register

CLIENT_ID = "dev-app"
REDIRECT_URI = "http://127.0.0.1:8765/callback"


@pytest.fixture
def discovery(gateway) -> dict:
    return requests.get(f"{gateway}/auth/.well-known/openid-configuration", timeout=10).json()


def app_session(scope: str = "openid profile email items:write") -> OAuth2Session:
    return OAuth2Session(
        CLIENT_ID,
        redirect_uri=REDIRECT_URI,
        scope=scope,
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    )


def catch_callback(page: Page) -> list[str]:
    """The URLs the browser is sent back to (answered here, as a local listener would)."""
    caught: list[str] = []

    def answer(route) -> None:
        caught.append(route.request.url)
        route.fulfill(status=200, content_type="text/plain", body="signed in; back to the app")

    page.route(f"{REDIRECT_URI}**", answer)
    return caught


def authorize(session: OAuth2Session, discovery: dict) -> tuple[str, str, str, str]:
    verifier = generate_token(48)
    nonce = secrets.token_urlsafe(16)
    url, state = session.create_authorization_url(
        discovery["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    return url, state, verifier, nonce


def test_code_flow_with_pkce_through_the_hosted_login(page, gateway, new_user, discovery):
    register(page, gateway, new_user)
    session = app_session()
    url, state, verifier, nonce = authorize(session, discovery)
    caught = catch_callback(page)

    page.goto(url)
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    log_in(page, new_user)
    expect(page.get_by_role("heading", name="Allow Development app?")).to_be_visible()
    expect(page.get_by_text("Create and change items as you")).to_be_visible()
    page.get_by_role("button", name="Allow").click()
    expect(page.get_by_text("signed in; back to the app")).to_be_visible()
    assert len(caught) == 1

    token = session.fetch_token(
        discovery["token_endpoint"],
        authorization_response=caught[0],
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
        aud={"essential": True, "value": CLIENT_ID},
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
    browser, page, gateway, new_user, discovery
):
    register(page, gateway, new_user)
    first = app_session()
    url, _, _, _ = authorize(first, discovery)
    caught = catch_callback(page)
    page.goto(url)
    log_in(page, new_user)
    page.get_by_role("button", name="Allow").click()
    expect(page.get_by_text("signed in; back to the app")).to_be_visible()

    # Signed in: straight back, no page.
    url, state, _, _ = authorize(app_session(), discovery)
    page.goto(url)
    expect(page.get_by_text("signed in; back to the app")).to_be_visible()
    assert f"state={state}" in caught[-1] and "code=" in caught[-1]

    # A new browser, signed out: the login form leads on to the app (its CSP allows it).
    context = browser.new_context()
    try:
        other = context.new_page()
        later = catch_callback(other)
        url, state, _, _ = authorize(app_session(), discovery)
        other.goto(url)
        log_in(other, new_user)
        expect(other.get_by_text("signed in; back to the app")).to_be_visible()
        assert f"state={state}" in later[0] and "code=" in later[0]
    finally:
        context.close()


def test_deny_sends_access_denied(page, gateway, new_user, discovery):
    register(page, gateway, new_user)
    url, state, _, _ = authorize(app_session(), discovery)
    caught = catch_callback(page)
    page.goto(url)
    log_in(page, new_user)
    page.get_by_role("button", name="Deny").click()
    expect(page.get_by_text("signed in; back to the app")).to_be_visible()
    assert "error=access_denied" in caught[0] and f"state={state}" in caught[0]
    assert "code=" not in caught[0]
