"""GET /me: three upstream calls at once; degraded, not failed, when content is down."""

from __future__ import annotations

import json
import time

from conftest import Scripted, closed_port

ACCOUNT = {"id": 5, "username": "eve", "email": "eve@example.com", "roles": [], "created_at": "x"}
PROFILE = {"id": 5, "username": "eve", "display_name": "Eve", "bio": "", "created_at": "x"}
POSTS = [{"id": 1, "title": "hello", "author": "eve"}]


def script(auth, content, delay=0.0):
    auth.paths["/auth/me"] = Scripted(body=json.dumps(ACCOUNT).encode(), delay=delay)
    content.paths["/api/users/5"] = Scripted(body=json.dumps(PROFILE).encode(), delay=delay)
    content.paths["/api/posts"] = Scripted(body=json.dumps(POSTS).encode(), delay=delay)


def test_me_composes_account_profile_and_posts(make_app, upstream, second_upstream, tokens):
    script(upstream, second_upstream)
    client = make_app(CONTENT_SERVICE_URL=second_upstream.url).test_client()
    headers = {**tokens.bearer(5, "eve"), "X-Request-ID": "me-1"}
    response = client.get("/me", headers=headers)
    assert response.status_code == 200
    assert response.get_json() == {
        "account": ACCOUNT,
        "profile": PROFILE,
        "posts": POSTS,
        "degraded": [],
    }
    posts_call = next(s for s in second_upstream.seen if s["path"].startswith("/api/posts"))
    assert posts_call["path"] == "/api/posts?author=eve&per_page=5&sort=-created_at"
    for seen in upstream.seen + second_upstream.seen:
        assert seen["headers"]["Authorization"] == headers["Authorization"]
        assert seen["headers"]["X-Request-Id"] == "me-1"


def test_me_calls_run_concurrently(make_app, upstream, second_upstream, tokens):
    script(upstream, second_upstream, delay=1.0)
    app = make_app(CONTENT_SERVICE_URL=second_upstream.url, UPSTREAM_READ_TIMEOUT=5)
    client = app.test_client()
    started = time.monotonic()
    response = client.get("/me", headers=tokens.bearer(5, "eve"))
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.get_json()["degraded"] == []
    # Three one-second calls: about one second together, three if they ran in turn.
    assert elapsed < 2.0
    arrivals = sorted(s["at"] for s in upstream.seen + second_upstream.seen)
    assert arrivals[-1] - arrivals[0] < 0.5


def test_me_is_degraded_when_content_is_down(make_app, upstream, tokens):
    script(upstream, upstream)
    client = make_app(CONTENT_SERVICE_URL=f"http://127.0.0.1:{closed_port()}").test_client()
    response = client.get("/me", headers=tokens.bearer(5, "eve"))
    assert response.status_code == 200
    assert response.get_json() == {
        "account": ACCOUNT,
        "profile": None,
        "posts": None,
        "degraded": ["content"],
    }


def test_me_is_degraded_when_auth_is_down(make_app, upstream, tokens):
    script(upstream, upstream)
    client = make_app(AUTH_SERVICE_URL=f"http://127.0.0.1:{closed_port()}").test_client()
    body = client.get("/me", headers=tokens.bearer(5, "eve")).get_json()
    assert body["account"] is None
    assert body["profile"] == PROFILE
    assert body["degraded"] == ["auth"]


def test_me_with_a_missing_profile_is_not_degraded(make_app, upstream, tokens):
    script(upstream, upstream)
    upstream.paths["/api/users/5"] = Scripted(404, b"", "application/problem+json")
    body = make_app().test_client().get("/me", headers=tokens.bearer(5, "eve")).get_json()
    assert body["profile"] is None
    assert body["posts"] == POSTS
    assert body["degraded"] == []


def test_me_passes_on_auths_refusal(make_app, upstream, tokens):
    script(upstream, upstream)
    upstream.paths["/auth/me"] = Scripted(401, b"", "application/problem+json")
    response = make_app().test_client().get("/me", headers=tokens.bearer(5, "eve"))
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


def test_me_accepts_the_access_cookie_and_is_never_stored(
    make_app, upstream, second_upstream, tokens
):
    """Regression: /me ignored the access cookie that every other endpoint accepts, and its
    answer (about the caller) carried no Cache-Control."""
    script(upstream, second_upstream)
    client = make_app(CONTENT_SERVICE_URL=second_upstream.url).test_client()
    assert client.get("/me").status_code == 401
    client.set_cookie("access_token_cookie", tokens.bearer(5, "eve")["Authorization"][7:])
    response = client.get("/me")
    assert response.status_code == 200
    assert response.get_json()["account"] == ACCOUNT
    assert response.headers["Cache-Control"] == "no-store"
    assert "Cookie" in response.headers["Vary"]
    # The services were asked with the same cookie, so they answered for the same caller.
    for seen in upstream.seen + second_upstream.seen:
        assert "access_token_cookie=" in seen["headers"]["Cookie"]
    with_bearer = client.get("/me", headers=tokens.bearer(5, "eve"))
    assert with_bearer.headers["Cache-Control"] == "no-store"
