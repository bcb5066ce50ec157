"""Tokens as cookies, in flask-jwt-extended's layout.

access_token_cookie and refresh_token_cookie are HttpOnly (no script can read a token),
SameSite=Lax, and Secure in production. Next to each sits a readable csrf_* cookie with
the token's CSRF value, which scripts echo in X-CSRF-TOKEN (shared.cookie_auth checks it).
The refresh token is sent only to /auth/web/, the one place that redeems it from a cookie.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from werkzeug.wrappers import Response

from shared.cookie_auth import (
    ACCESS_COOKIE,
    ACCESS_CSRF_COOKIE,
    REFRESH_COOKIE,
    REFRESH_CSRF_COOKIE,
    csrf_value,
)

REFRESH_PATH = "/auth/web/"


def _set(
    response: Response, name: str, value: str, max_age: int, path: str, http_only: bool
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        secure=current_app.config["TOKEN_COOKIE_SECURE"],
        httponly=http_only,
        samesite="Lax",
    )


def set_token_cookies(
    response: Response,
    pair: dict[str, Any],
    access_claims: dict[str, Any],
    refresh_claims: dict[str, Any],
) -> None:
    access_age = int(access_claims["exp"]) - int(access_claims["iat"])
    refresh_age = int(refresh_claims["exp"]) - int(refresh_claims["iat"])
    _set(response, ACCESS_COOKIE, pair["access_token"], access_age, "/", True)
    _set(response, ACCESS_CSRF_COOKIE, csrf_value(access_claims), access_age, "/", False)
    _set(response, REFRESH_COOKIE, pair["refresh_token"], refresh_age, REFRESH_PATH, True)
    # Readable everywhere: it tells the console that a refresh is worth trying.
    _set(response, REFRESH_CSRF_COOKIE, csrf_value(refresh_claims), refresh_age, "/", False)
    response.headers["Cache-Control"] = "no-store"


def clear_token_cookies(response: Response) -> None:
    for name, path in (
        (ACCESS_COOKIE, "/"),
        (ACCESS_CSRF_COOKIE, "/"),
        (REFRESH_COOKIE, REFRESH_PATH),
        (REFRESH_CSRF_COOKIE, "/"),
    ):
        response.delete_cookie(
            name, path=path, secure=current_app.config["TOKEN_COOKIE_SECURE"], samesite="Lax"
        )
    response.headers["Cache-Control"] = "no-store"
