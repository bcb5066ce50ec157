"""Who is using the console: the principal of the access cookie, or a trip to sign in."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import g, redirect, request
from werkzeug.wrappers import Response

from shared.auth import authenticate, token_verifier
from shared.cookie_auth import ACCESS_COOKIE, REFRESH_CSRF_COOKIE, access_cookie, csrf_value
from shared.problems import Problem
from shared.tokens import InvalidToken, Principal, RevocationUnavailable, principal_from_claims

LOGIN = "/auth/web/login"
REFRESH = "/auth/web/refresh"


class SignInRequired(Exception):
    """Raised by a page that needs a signed-in user; answered with a redirect."""


class Refused(Exception):
    """A form post without its CSRF value (or with a wrong one): answered with a 403 page."""


def viewer() -> Principal | None:
    """Whom the pages are shown to, by the access cookie (a stale one reads as signed out).

    Only for showing; a form post is authorised by require_viewer, with its CSRF check.
    """
    if "console_viewer" not in g:
        g.console_viewer = _cookie_principal()
    return g.console_viewer


def _cookie_principal() -> Principal | None:
    token = access_cookie()
    if token is None:
        return None
    try:
        return principal_from_claims(token_verifier().verify(token))
    except (InvalidToken, RevocationUnavailable):
        return None


def require_viewer() -> Principal:
    """The signed-in user; for a form post also checks its CSRF value (403 without it)."""
    if request.method in ("GET", "HEAD"):
        principal = viewer()
        if principal is None:
            raise SignInRequired()
        return principal
    try:
        principal = authenticate()
    except Problem as problem:
        if problem.status == 401:
            raise SignInRequired() from problem
        if problem.status == 403:
            raise Refused(problem.detail) from problem
        raise
    g.console_viewer = principal
    return principal


def send_to_sign_in(exc: SignInRequired) -> Response:
    """To the refresh step when a refresh cookie exists, else to the login page."""
    back = request.full_path.rstrip("?") if request.method == "GET" else _local_referrer()
    target = REFRESH if request.cookies.get(REFRESH_CSRF_COOKIE) else LOGIN
    return redirect(f"{target}?{urlencode({'next': back or '/console/'})}")


def _local_referrer() -> str | None:
    # After a refused form post, come back to the page that held the form.
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc and referrer.netloc != request.host:
        return None
    return referrer.path if referrer.path.startswith("/console/") else None


def bearer() -> dict[str, str]:
    """The viewer's own token, for the console's calls to content and auth."""
    token = request.cookies.get(ACCESS_COOKIE, "")
    return {"Authorization": f"Bearer {token}"} if token else {}


def template_context() -> dict[str, Any]:
    principal = viewer()
    return {
        "viewer": principal,
        "csrf": csrf_value(principal.claims) if principal else "",
    }
