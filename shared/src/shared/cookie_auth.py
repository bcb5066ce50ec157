"""Browser sessions: the access token in an HttpOnly cookie, guarded by a CSRF double submit.

Auth's hosted login page sets the cookies, and the scheme is flask-jwt-extended's double
submit: its cookie names, its `csrf` claim and its X-CSRF-TOKEN header. A cookie is sent by
the browser on its own, so a request that changes something and authenticates with the
cookie must also repeat the token's CSRF value, in the X-CSRF-TOKEN header (scripts read
it from the readable csrf_access_token cookie) or in the csrf_access_token form field
(server-rendered forms): a page on another site can do neither. The value is the token's
`csrf` claim, which flask-jwt-extended puts in every token it encodes (the `jti` stands in
for a token without one: it is as random and as bound to that one token). A bearer token
is never sent by the browser on its own, so it needs no such check.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import g, request

from shared.problems import Problem

ACCESS_COOKIE = "access_token_cookie"
REFRESH_COOKIE = "refresh_token_cookie"
ACCESS_CSRF_COOKIE = "csrf_access_token"
REFRESH_CSRF_COOKIE = "csrf_refresh_token"
CSRF_HEADER = "X-CSRF-TOKEN"
CSRF_FORM_FIELD = "csrf_access_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def access_cookie() -> str | None:
    # The answer now depends on the cookie: shared.http_semantics adds `Vary: Cookie`.
    g.read_access_cookie = True
    token = request.cookies.get(ACCESS_COOKIE, "").strip()
    return token or None


def submitted_csrf() -> str | None:
    value = request.headers.get(CSRF_HEADER)
    if value is None and request.mimetype in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        value = request.form.get(CSRF_FORM_FIELD)
    return value or None


def csrf_value(claims: dict[str, Any]) -> str:
    """What a page must send back with an unsafe request authenticated by this token."""
    return str(claims.get("csrf") or claims["jti"])


def check_csrf(claims: dict[str, Any]) -> None:
    """Refuse an unsafe request whose cookie credential is not backed by the CSRF value."""
    if request.method in SAFE_METHODS:
        return
    expected = csrf_value(claims)
    submitted = submitted_csrf()
    if submitted is None:
        raise Problem(403, "A request authenticated by cookie must send its CSRF token.")
    if not hmac.compare_digest(expected.encode(), submitted.encode()):
        raise Problem(403, "The CSRF token does not match the session.")
