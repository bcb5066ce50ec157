"""Authorization code + PKCE (S256) through the hosted login page, and its attacks."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import jwt
import pytest
from conftest import bearer
from test_web import csrf_of, web_login

from auth_service.extensions import db
from auth_service.oauth_models import AuthorizationCode, Consent
from shared.auth import token_verifier

REDIRECT = "http://127.0.0.1:9000/callback"


def s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


@pytest.fixture
def public_client(app):
    result = app.test_cli_runner().invoke(
        args=["create-client", "--name", "Spa", "--public", "--redirect-uri", REDIRECT]
    )
    assert result.exit_code == 0, result.output
    return dict(line.split(": ", 1) for line in result.output.splitlines())["client_id"]


@pytest.fixture
def signed_in(client, register):
    register()
    assert web_login(client).status_code == 302
    return client


def authorize_url(client_id, verifier, **extra):
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid profile email items:write",
        "state": "st-" + secrets.token_hex(4),
        "nonce": "n-" + secrets.token_hex(4),
        "code_challenge": s256(verifier),
        "code_challenge_method": "S256",
        **extra,
    }
    return "/auth/authorize?" + urlencode({k: v for k, v in params.items() if v is not None})


def consent(client, url):
    page = client.get(url)
    assert page.status_code == 200, page.data[:300]
    assert b"Allow Spa?" in page.data
    return client.post(url, data={"csrf_token": csrf_of(page.data), "decision": "allow"})


def redirected_params(response):
    assert response.status_code == 302, response.data[:300]
    location = response.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def redeem(client, client_id, code, verifier, redirect_uri=REDIRECT):
    data = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "code": code,
        "redirect_uri": redirect_uri,
    }
    if verifier is not None:
        data["code_verifier"] = verifier
    return client.post("/auth/token", data=data)


def test_not_signed_in_goes_to_the_login_page_and_back(client, public_client):
    url = authorize_url(public_client, "v" * 43)
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/web/login?next=")
    assert parse_qs(urlsplit(response.headers["Location"]).query)["next"][0] == url


def test_the_whole_flow_gives_tokens_and_an_id_token(app, signed_in, public_client):
    verifier = secrets.token_urlsafe(48)
    url = authorize_url(public_client, verifier)
    sent = parse_qs(urlsplit(url).query)
    params = redirected_params(consent(signed_in, url))
    assert params["state"] == sent["state"][0]
    response = redeem(signed_in, public_client, params["code"], verifier)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body["scope"].split()) == {"openid", "profile", "email", "items:write"}
    with app.app_context():
        access = token_verifier().verify(body["access_token"])
        assert access["client_id"] == public_client
        header = jwt.get_unverified_header(body["id_token"])
        assert header["typ"] == "JWT"
        key = app.extensions["key_store"].ring().current.private_key.public_key()
    id_claims = jwt.decode(
        body["id_token"],
        key,
        algorithms=["RS256"],
        audience=public_client,
        issuer=app.config["JWT_ISSUER"],
    )
    assert id_claims["nonce"] == sent["nonce"][0]
    assert id_claims["sub"] == access["sub"]
    info = signed_in.get("/auth/userinfo", headers=bearer(body["access_token"]))
    assert info.get_json()["email"] == "alice@example.com"


def test_consent_is_remembered_per_client_and_user(app, signed_in, public_client):
    first = redirected_params(consent(signed_in, authorize_url(public_client, "a" * 43)))
    assert first["code"]
    again = signed_in.get(authorize_url(public_client, "b" * 43))
    assert redirected_params(again)["code"]  # no page this time
    with app.app_context():
        assert db.session.execute(db.select(Consent)).scalar_one().client_id == public_client
    # A wider scope asks again.
    wider = signed_in.get(authorize_url(public_client, "c" * 43, scope="openid posts:write"))
    assert wider.status_code == 200 and b"Allow Spa?" in wider.data


def test_deny_returns_access_denied(signed_in, public_client):
    url = authorize_url(public_client, "d" * 43)
    page = signed_in.get(url)
    response = signed_in.post(url, data={"csrf_token": csrf_of(page.data), "decision": "deny"})
    params = redirected_params(response)
    assert params["error"] == "access_denied" and "code" not in params


def test_a_code_works_once_and_a_replay_ends_its_session(signed_in, public_client):
    verifier = secrets.token_urlsafe(48)
    params = redirected_params(consent(signed_in, authorize_url(public_client, verifier)))
    first = redeem(signed_in, public_client, params["code"], verifier)
    assert first.status_code == 200
    tokens = first.get_json()
    replay = redeem(signed_in, public_client, params["code"], verifier)
    assert replay.status_code == 400
    assert replay.get_json()["error"] == "invalid_grant"
    # What the first redemption gave stops working.
    assert signed_in.get("/auth/me", headers=bearer(tokens["access_token"])).status_code == 401


@pytest.mark.parametrize(
    ("verifier", "error"),
    [
        pytest.param(None, "invalid_request", id="missing verifier"),
        pytest.param("w" * 43, "invalid_grant", id="wrong verifier"),
    ],
)
def test_pkce_is_checked_at_the_token_endpoint(signed_in, public_client, verifier, error):
    real = secrets.token_urlsafe(48)
    params = redirected_params(consent(signed_in, authorize_url(public_client, real)))
    response = redeem(signed_in, public_client, params["code"], verifier)
    assert response.status_code == 400
    assert response.get_json()["error"] == error
    assert "access_token" not in response.get_json()


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({"code_challenge": None, "code_challenge_method": None}, id="no PKCE"),
        pytest.param({"code_challenge_method": "plain"}, id="plain downgrade"),
        pytest.param({"code_challenge_method": None}, id="method left out (plain by default)"),
    ],
)
def test_pkce_s256_is_required_at_the_authorization_endpoint(app, signed_in, public_client, extra):
    response = signed_in.get(authorize_url(public_client, "e" * 43, **extra))
    params = redirected_params(response)
    assert params["error"] == "invalid_request" and "code" not in params
    with app.app_context():
        assert db.session.execute(db.select(AuthorizationCode)).first() is None


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:9000/callback/extra",
        "http://127.0.0.1:9000/callbac",
        "http://127.0.0.1:9000/callback?x=1",
        "http://127.0.0.1:9000/Callback",
        "http://127.0.0.1:9000/%63allback",
        "http://127.0.0.1:9000/callback%2F..%2Fevil",
        "http://127.0.0.1:9001/callback",
        "http://evil.example/callback",
        "http://127.0.0.1:9000/callback#frag",
    ],
)
def test_a_redirect_uri_not_registered_exactly_is_never_redirected_to(
    app, signed_in, public_client, redirect_uri
):
    response = signed_in.get(authorize_url(public_client, "f" * 43, redirect_uri=redirect_uri))
    assert response.status_code == 400
    assert "Location" not in response.headers
    with app.app_context():
        assert db.session.execute(db.select(AuthorizationCode)).first() is None


def test_the_redirect_uri_must_match_at_the_token_endpoint(signed_in, public_client):
    verifier = secrets.token_urlsafe(48)
    params = redirected_params(consent(signed_in, authorize_url(public_client, verifier)))
    response = redeem(signed_in, public_client, params["code"], verifier, REDIRECT + "/x")
    assert response.get_json()["error"] == "invalid_grant"


def test_a_code_of_another_client_is_refused(app, signed_in, public_client):
    verifier = secrets.token_urlsafe(48)
    params = redirected_params(consent(signed_in, authorize_url(public_client, verifier)))
    result = app.test_cli_runner().invoke(
        args=["create-client", "--name", "Other", "--public", "--redirect-uri", REDIRECT]
    )
    other = dict(line.split(": ", 1) for line in result.output.splitlines())["client_id"]
    response = redeem(signed_in, other, params["code"], verifier)
    assert response.get_json()["error"] == "invalid_grant"


def test_codes_live_60_seconds(app, signed_in, public_client):
    params = redirected_params(consent(signed_in, authorize_url(public_client, "k" * 43)))
    with app.app_context():
        code = db.session.execute(db.select(AuthorizationCode)).scalar_one()
        assert abs(code.expires_at - time.time() - 60) < 5
    assert params["code"]


def test_an_expired_code_is_refused(app, signed_in, public_client):
    app.config["OAUTH_CODE_SECONDS"] = 0  # expired as soon as it is issued
    verifier = secrets.token_urlsafe(48)
    params = redirected_params(consent(signed_in, authorize_url(public_client, verifier)))
    expired = redeem(signed_in, public_client, params["code"], verifier)
    assert expired.status_code == 400
    assert expired.get_json()["error"] == "invalid_grant"
    assert "access_token" not in expired.get_json()


def test_state_comes_back_exactly_so_a_client_can_detect_mix_up(signed_in, public_client):
    state = "a b&c=d/é"
    first = redirected_params(
        consent(signed_in, authorize_url(public_client, "g" * 43, state=state))
    )
    assert first["state"] == state
    other = redirected_params(signed_in.get(authorize_url(public_client, "h" * 43, state="other")))
    assert other["state"] == "other" and other["code"] != first["code"]


def test_an_unknown_client_gets_no_redirect(signed_in):
    response = signed_in.get(authorize_url("nobody", "i" * 43))
    assert response.status_code == 400 and "Location" not in response.headers


def test_the_login_page_may_send_its_form_on_to_the_app(client, public_client):
    url = authorize_url(public_client, "j" * 43)
    page = client.get("/auth/web/login?next=" + quote(url, safe=""))
    assert "form-action 'self' http://127.0.0.1:9000;" in page.headers["Content-Security-Policy"]
    plain = client.get("/auth/web/login")
    assert "form-action 'self';" in plain.headers["Content-Security-Policy"]
