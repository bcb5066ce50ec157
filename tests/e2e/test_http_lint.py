"""REDbot's checks, re-stated as tests on the main endpoints through the gateway.

REDbot (HTTP lint) warns about: a missing or unparseable Date; a body, Content-Type or
Content-Length on 204 and 304; a Content-Length that is not the body's length; a malformed
ETag; a 304 whose validators differ from the full answer; HEAD answering other headers than
GET; a 405 without Allow; a 201 without Location; per-user answers a shared cache may store.
Each answer here is checked for all of them that apply.
"""

from __future__ import annotations

import re
import uuid
from email.utils import parsedate_to_datetime

import requests

ETAG = re.compile(r'^(W/)?"[\x21\x23-\x7e]*"$')
BODILESS = (204, 304)


def lint(response: requests.Response) -> None:
    """Everything REDbot would flag on one answer."""
    headers = response.headers
    assert parsedate_to_datetime(headers["Date"]) is not None
    if response.status_code in BODILESS or response.request.method == "HEAD":
        assert response.content == b""
    if response.status_code in BODILESS:
        assert "Content-Type" not in headers, response.status_code
        assert "Content-Length" not in headers, response.status_code
    else:
        assert headers.get("Content-Type"), response.url
        if "Content-Length" in headers and response.request.method != "HEAD":
            assert int(headers["Content-Length"]) == len(response.content)
    if "ETag" in headers:
        assert ETAG.match(headers["ETag"]), headers["ETag"]
    if response.status_code >= 400:
        assert headers["Content-Type"] == "application/problem+json"
        problem = response.json()
        assert problem["type"] == "about:blank" or problem["type"].startswith("https://")
        assert problem["instance"], problem
    if response.status_code == 405:
        assert headers.get("Allow")
    if response.status_code == 201:
        assert headers.get("Location")


def personal(response: requests.Response) -> None:
    """An answer about the caller: never stored by any cache, and keyed by the cookie."""
    assert response.headers["Cache-Control"] == "no-store"
    assert "cookie" in response.headers["Vary"].lower()


def test_public_reads_and_their_conditional_and_head_forms(gateway, user):
    created = requests.post(
        f"{gateway}/api/posts",
        json={"title": "lint", "content": "REDbot's checks"},
        headers={**user["headers"], "Idempotency-Key": uuid.uuid4().hex},
        timeout=10,
    )
    lint(created)
    url = f"{gateway}/api/posts/{created.json()['id']}"
    for target in (f"{gateway}/api/posts", url, f"{gateway}/auth/.well-known/jwks.json"):
        full = requests.get(target, timeout=10)
        lint(full)
        head = requests.head(target, timeout=10)
        lint(head)
        for name in ("Content-Type", "ETag", "Cache-Control", "Vary"):
            assert head.headers.get(name) == full.headers.get(name), (target, name)
    one = requests.get(url, timeout=10)
    again = requests.get(url, headers={"If-None-Match": one.headers["ETag"]}, timeout=10)
    assert again.status_code == 304
    lint(again)
    assert again.headers["ETag"] == one.headers["ETag"]
    gone = requests.delete(url, headers=user["headers"], timeout=10)
    assert gone.status_code == 204
    lint(gone)
    lint(requests.get(url, timeout=10))  # 404 problem


def test_answers_about_the_caller(gateway, user):
    for path in ("/auth/me", "/me"):
        with_bearer = requests.get(f"{gateway}{path}", headers=user["headers"], timeout=10)
        assert with_bearer.status_code == 200, path
        lint(with_bearer)
        personal(with_bearer)
        cookie = {"access_token_cookie": user["tokens"]["access_token"]}
        with_cookie = requests.get(f"{gateway}{path}", cookies=cookie, timeout=10)
        assert with_cookie.status_code == 200, path
        lint(with_cookie)
        personal(with_cookie)
    logout = requests.post(f"{gateway}/auth/logout", headers=user["headers"], timeout=10)
    assert logout.status_code == 204
    lint(logout)


def test_refusals(gateway):
    lint(requests.get(f"{gateway}/auth/me", timeout=10))  # 401
    lint(requests.delete(f"{gateway}/auth/register", timeout=10))  # 405
    lint(requests.get(f"{gateway}/api/posts?page=0", timeout=10))  # 422
    # werkzeug's slash-merging redirect built its Location from Host.
    merged = requests.get(
        f"{gateway}/api//posts", headers={"Host": "evil.example"}, allow_redirects=False, timeout=10
    )
    assert "evil.example" not in merged.headers.get("Location", "")
