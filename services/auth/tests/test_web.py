"""The hosted pages: forms with CSRF tokens, errors beside fields, tokens set as cookies."""

from __future__ import annotations

import re

import pytest

PASSWORD = "correct horse battery"


def csrf_of(page: bytes) -> str:
    match = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match, page[:500]
    return match.group(1).decode()


def cookies_of(response) -> dict[str, str]:
    """Set-Cookie headers by cookie name."""
    return {h.split("=", 1)[0]: h for h in response.headers.getlist("Set-Cookie")}


def web_login(client, username="alice", password=PASSWORD, next_path=None):
    token = csrf_of(client.get("/auth/web/login").data)
    url = "/auth/web/login" + (f"?next={next_path}" if next_path else "")
    return client.post(url, data={"csrf_token": token, "username": username, "password": password})


def test_pages_render_with_labels_and_a_csrf_token(client):
    for path in ("/auth/web/login", "/auth/web/register"):
        page = client.get(path)
        assert page.status_code == 200
        assert page.mimetype == "text/html"
        assert b'<label class="field-label" for="username">' in page.data
        assert b'name="viewport"' in page.data
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
        csrf_of(page.data)


def test_register_through_the_page(client):
    token = csrf_of(client.get("/auth/web/register").data)
    form = {
        "csrf_token": token,
        "username": "alice",
        "email": "alice@example.com",
        "password": PASSWORD,
        "confirm": PASSWORD,
    }
    response = client.post("/auth/web/register", data=form)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/web/login")
    assert (
        client.post("/auth/login", json={"username": "alice", "password": PASSWORD}).status_code
        == 200
    )


def test_register_errors_are_shown_beside_the_fields(client, register):
    register("alice")
    token = csrf_of(client.get("/auth/web/register").data)
    form = {
        "csrf_token": token,
        "username": "x",
        "email": "nope",
        "password": PASSWORD,
        "confirm": "other",
    }
    response = client.post("/auth/web/register", data=form)
    assert response.status_code == 200
    assert b'id="username-error"' in response.data
    assert b'id="email-error"' in response.data
    assert b"The passwords differ." in response.data
    assert b'aria-invalid="true"' in response.data


def test_a_form_without_its_csrf_token_is_refused(client, register):
    register()
    response = client.post("/auth/web/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200  # the form again, not a redirect with cookies
    assert b"This form was not sent from this site" in response.data
    assert "access_token_cookie" not in cookies_of(response)


def test_login_sets_http_only_token_cookies(client, register):
    register()
    response = web_login(client, next_path="/console/posts")
    assert response.status_code == 302
    assert response.headers["Location"] == "/console/posts"
    cookies = cookies_of(response)
    access = cookies["access_token_cookie"]
    assert "HttpOnly" in access and "SameSite=Lax" in access and "Path=/;" in access
    assert "Secure" not in access  # development over plain HTTP
    assert "HttpOnly" not in cookies["csrf_access_token"]
    assert "Path=/auth/web/" in cookies["refresh_token_cookie"]
    assert "HttpOnly" in cookies["refresh_token_cookie"]


def test_cookie_is_secure_in_production(client, app, register):
    app.config["TOKEN_COOKIE_SECURE"] = True
    register()
    cookies = cookies_of(web_login(client))
    assert all("Secure" in header for header in cookies.values() if "token" in header)


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil"])
def test_next_never_leaves_the_site(client, register, target):
    register()
    response = web_login(client, next_path=target)
    assert response.headers["Location"] == "/console/"


def test_wrong_password_shows_one_message(client, register):
    register()
    response = web_login(client, password="wrong password")
    assert response.status_code == 200
    assert "access_token_cookie" not in cookies_of(response)
    assert b"Invalid username or password." in response.data


def test_cookie_authenticates_the_api_and_unsafe_calls_need_the_csrf_value(client, register):
    register()
    web_login(client)
    assert client.get("/auth/me").get_json()["username"] == "alice"
    csrf = client.get_cookie("csrf_access_token").value
    refused = client.post("/auth/web/logout")  # neither token sent
    assert b"This form was not sent from this site" in refused.data
    assert client.get("/auth/me").status_code == 200
    response = client.post("/auth/web/logout", data={"csrf_access_token": csrf})
    assert response.status_code == 302
    assert cookies_of(response)["access_token_cookie"].startswith("access_token_cookie=;")
    assert client.get("/auth/me").status_code == 401


def test_logout_revokes_the_session_everywhere(client, register):
    register()
    web_login(client)
    access = client.get_cookie("access_token_cookie").value
    token = csrf_of(client.get("/auth/web/logout").data)
    client.post("/auth/web/logout", data={"csrf_token": token})
    assert client.get("/auth/me", headers={"Authorization": f"Bearer {access}"}).status_code == 401


def test_refresh_trades_the_refresh_cookie_for_new_cookies(client, register):
    register()
    web_login(client)
    before = client.get_cookie("access_token_cookie").value
    response = client.get("/auth/web/refresh?next=/console/profile")
    assert response.status_code == 302
    assert response.headers["Location"] == "/console/profile"
    after = client.get_cookie("access_token_cookie").value
    assert after != before
    assert client.get("/auth/me").status_code == 200


def test_refresh_without_a_session_goes_to_login(client):
    response = client.get("/auth/web/refresh?next=/console/profile")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/web/login?next=")


def test_password_page_needs_a_session_and_changes_the_password(client, register):
    assert client.get("/auth/web/password").headers["Location"].startswith("/auth/web/login")
    register()
    web_login(client)
    token = csrf_of(client.get("/auth/web/password").data)
    new = "another fine password"
    form = {"csrf_token": token, "current_password": PASSWORD, "new_password": new, "confirm": new}
    response = client.post("/auth/web/password", data=form)
    assert response.status_code == 302
    assert (
        client.post("/auth/login", json={"username": "alice", "password": new}).status_code == 200
    )


def test_password_page_shows_a_wrong_current_password_beside_it(client, register):
    register()
    web_login(client)
    token = csrf_of(client.get("/auth/web/password").data)
    form = {
        "csrf_token": token,
        "current_password": "not it at all",
        "new_password": "x" * 9,
        "confirm": "x" * 9,
    }
    response = client.post("/auth/web/password", data=form)
    assert response.status_code == 200
    assert b'id="current_password-error"' in response.data


def test_the_pages_session_cookie_is_auths_own_under_auth(client):
    """Regression: the settings were `setdefault` on keys Flask already has, so they were
    ignored and the pages' session was `session` on `/`, the console's too."""
    response = client.get("/auth/web/register")
    header = next(h for h in response.headers.getlist("Set-Cookie") if "session" in h)
    assert header.startswith("auth_session=")
    assert "Path=/auth/" in header and "HttpOnly" in header and "SameSite=Lax" in header
    assert "Secure" not in header  # development: plain HTTP on localhost


def test_the_pages_session_cookie_is_secure_in_production():
    from auth_service.config import load_config

    secrets = {
        "APP_ENV": "production",
        "SECRET_KEY": "s" * 40,
        "RELAY_CLIENT_SECRET": "t" * 40,
        "TOTP_ENCRYPTION_KEY": "o" * 40,
    }
    mail = {"SMTP_URL": "smtps://mx.example.com", "PUBLIC_BASE_URL": "https://suite.example"}
    config = load_config({**secrets, **mail, "JWT_ISSUER": "https://suite.example/auth"})
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["TOKEN_COOKIE_SECURE"] is True
