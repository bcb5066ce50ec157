"""The web console: pages by cookie, sign-in redirects, CSRF on every form post."""

from __future__ import annotations

import json

import pytest
from conftest import Scripted

CSRF = "5a1d2c3b-csrf-claim-of-the-token"


@pytest.fixture
def signed_in(client, tokens):
    """The client carries an access cookie for account 7, as auth's login page sets it."""
    client.set_cookie("access_token_cookie", tokens.token(7, "bob", csrf=CSRF))
    return client


def posts_seen(upstream, method):
    return [
        s for s in upstream.seen if s["method"] == method and s["path"].startswith("/api/posts")
    ]


def test_anyone_can_browse_posts(client, upstream):
    upstream.paths["/api/posts"] = Scripted(
        body=json.dumps(
            [
                {
                    "id": 1,
                    "title": "First <post>",
                    "content": "Hi",
                    "author": "ann",
                    "author_id": 3,
                    "created_at": "2026-01-02T03:04:05Z",
                    "updated_at": "2026-01-02T03:04:05Z",
                }
            ]
        ).encode(),
        headers={"X-Total-Count": "1"},
    )
    page = client.get("/console/posts/?q=first")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert b"First &lt;post&gt;" in page.data  # escaped
    assert posts_seen(upstream, "GET")[0]["path"].startswith("/api/posts?")
    assert "q=first" in posts_seen(upstream, "GET")[0]["path"]


def test_a_protected_page_sends_you_to_log_in(client):
    response = client.get("/console/profile")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/web/login?next=%2Fconsole%2Fprofile"


def test_with_a_refresh_cookie_it_sends_you_to_refresh(client):
    client.set_cookie("csrf_refresh_token", "x")
    response = client.get("/console/posts/new")
    assert response.headers["Location"] == "/auth/web/refresh?next=%2Fconsole%2Fposts%2Fnew"


def test_a_form_post_without_its_csrf_value_is_refused(signed_in, upstream):
    response = signed_in.post("/console/posts/new", data={"title": "t", "content": "c"})
    assert response.status_code == 403
    assert b"Refused" in response.data
    assert posts_seen(upstream, "POST") == []


def test_a_form_post_with_its_csrf_value_creates_as_the_viewer(signed_in, upstream, tokens):
    upstream.paths["/api/posts"] = Scripted(
        status=201, body=json.dumps({"id": 9, "title": "t"}).encode()
    )
    form = {"title": "t", "content": "c", "csrf_access_token": CSRF}
    response = signed_in.post("/console/posts/new", data=form)
    assert response.status_code == 302
    assert response.headers["Location"] == "/console/posts/9"
    sent = posts_seen(upstream, "POST")[0]
    assert json.loads(sent["body"]) == {"title": "t", "content": "c"}
    assert sent["headers"]["Authorization"] == (
        f"Bearer {signed_in.get_cookie('access_token_cookie').value}"
    )


def test_content_field_errors_are_shown_beside_the_fields(signed_in, upstream):
    problem = {
        "type": "/problems/validation-error",
        "title": "Validation failed",
        "status": 422,
        "errors": [{"field": "title", "message": "at most 200 characters"}],
    }
    upstream.paths["/api/posts"] = Scripted(
        status=422, body=json.dumps(problem).encode(), content_type="application/problem+json"
    )
    form = {"title": "x" * 201, "content": "c", "csrf_access_token": CSRF}
    response = signed_in.post("/console/posts/new", data=form)
    assert response.status_code == 422
    assert b'id="title-error"' in response.data
    assert b"at most 200 characters" in response.data


def test_download_my_data_is_a_json_attachment(signed_in, upstream):
    account = {"id": 7, "username": "bob", "email": "bob@example.com", "roles": []}
    upstream.paths["/auth/me"] = Scripted(body=json.dumps(account).encode())
    upstream.paths["/api/users/7"] = Scripted(body=json.dumps({"id": 7, "bio": ""}).encode())
    upstream.paths["/api/posts"] = Scripted(body=b"[]")
    upstream.paths["/api/items"] = Scripted(
        body=json.dumps([{"id": 1, "owner_id": 7}, {"id": 2, "owner_id": 8}]).encode()
    )
    response = signed_in.get("/console/export")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="my-data-bob.json"'
    document = response.get_json()
    assert document["account"] == account
    assert document["items"] == [{"id": 1, "owner_id": 7}]


def test_an_unavailable_service_gives_a_page_not_a_crash(client, upstream):
    upstream.status = 502
    upstream.body = b"<html>bad gateway</html>"
    upstream.content_type = "text/html"
    response = client.get("/console/items/")
    assert response.status_code == 503
    assert b"Temporarily unavailable" in response.data


def test_the_consoles_session_cookie_is_its_own_under_console(signed_in, upstream):
    """Regression: the settings were ignored (`setdefault` on keys Flask already has), so the
    console's session was `session` on `/`, overwriting the hosted pages' one."""
    upstream.paths["/api/posts"] = Scripted(
        status=201, body=json.dumps({"id": 9, "title": "t"}).encode()
    )
    form = {"title": "t", "content": "c", "csrf_access_token": CSRF}
    response = signed_in.post("/console/posts/new", data=form)
    header = response.headers["Set-Cookie"]
    assert "console_session=" in header and "session=" not in header.replace("console_session=", "")
    assert "Path=/console/" in header and "HttpOnly" in header and "SameSite=Lax" in header


def test_console_pages_for_a_signed_in_viewer_are_never_stored(signed_in, upstream):
    """Regression: pages naming the viewer carried no Cache-Control and no Vary: Cookie."""
    upstream.paths["/api/posts"] = Scripted(body=b"[]", headers={"X-Total-Count": "0"})
    response = signed_in.get("/console/posts/")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "Cookie" in response.headers["Vary"]


@pytest.mark.parametrize(("verified", "banner"), [(True, False), (False, True)])
def test_a_banner_asks_an_unverified_viewer_to_confirm_the_address(
    client, upstream, tokens, verified, banner
):
    upstream.paths["/api/posts"] = Scripted(body=b"[]", headers={"X-Total-Count": "0"})
    client.set_cookie(
        "access_token_cookie", tokens.token(7, "bob", csrf=CSRF, email_verified=verified)
    )
    page = client.get("/console/posts/")
    assert page.status_code == 200
    assert (b'data-testid="verify-banner"' in page.data) is banner
    assert b'href="/auth/web/security"' in page.data  # the nav links to the security page
