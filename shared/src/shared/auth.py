"""Flask glue for the token verifier: bearer extraction and the require_auth decorator."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Flask, current_app, g, request

from shared.cookie_auth import access_cookie, check_csrf
from shared.http_semantics import mark_personal
from shared.problems import Problem
from shared.tokens import (
    InvalidToken,
    JwksCache,
    Principal,
    RevocationList,
    RevocationUnavailable,
    TokenVerifier,
    principal_from_claims,
    scopes,
)

F = TypeVar("F", bound=Callable[..., Any])
_EXTENSION = "suite_token_verifier"


def init_token_verifier(app: Flask, jwks: JwksCache, revocations: RevocationList | None) -> None:
    app.extensions[_EXTENSION] = TokenVerifier(
        jwks,
        issuer=app.config["JWT_ISSUER"],
        audience=app.config["JWT_AUDIENCE"],
        revocations=revocations,
    )


def token_verifier() -> TokenVerifier:
    return current_app.extensions[_EXTENSION]


def unauthorized(detail: str) -> Problem:
    return Problem(
        401,
        detail,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate(expected_type: str = "access", scope: str | None = None) -> Principal:
    """Verify the request's bearer token, or raise the matching problem (401, 403 or 503).

    Without an Authorization header, a browser's access cookie stands in for the bearer
    token, and an unsafe method must then carry the CSRF double submit (shared.cookie_auth).
    With `scope`, a token without that scope is refused with 403 `insufficient_scope`
    (RFC 6750 3.1). The request's principal is verified once and kept for the request.
    """
    principal = _verified_principal(expected_type)
    if scope is not None and scope not in scopes(principal.claims):
        raise insufficient_scope(scope)
    return principal


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def require_scope_for_writes(bp: Blueprint, scope: str) -> None:
    """Every unsafe request to the blueprint needs a token with `scope`, before its view runs
    (so before an Idempotency-Key is claimed)."""

    @bp.before_request
    def check_scope() -> None:
        if request.method not in SAFE_METHODS:
            authenticate(scope=scope)


def insufficient_scope(scope: str) -> Problem:
    return Problem(
        403,
        f"The access token lacks the {scope} scope.",
        headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
    )


def _verified_principal(expected_type: str) -> Principal:
    verified = g.get("verified_as")
    if verified is not None and verified[0] == expected_type:
        return verified[1]  # checked once a request, however many layers ask
    token = bearer_token()
    from_cookie = False
    if token is None and expected_type == "access" and "Authorization" not in request.headers:
        token = access_cookie()
        from_cookie = token is not None
    if token is None:
        raise missing_token()
    claims, principal = verify_or_problem(token_verifier(), token, expected_type)
    if from_cookie:
        check_csrf(claims)
    g.principal = principal
    mark_personal()
    g.verified_as = (expected_type, principal)
    return principal


def missing_token() -> Problem:
    """401 for a request without a usable bearer token."""
    if "Authorization" in request.headers:
        return unauthorized("The Authorization header must be 'Bearer <token>'.")
    return Problem(401, "Authentication required.", headers={"WWW-Authenticate": "Bearer"})


def verify_or_problem(
    verifier: TokenVerifier, token: str, expected_type: str
) -> tuple[dict[str, Any], Principal]:
    """Verify a token, or raise the problem every service answers with (401, or 503 closed)."""
    try:
        claims = verifier.verify(token, expected_type)
        return claims, principal_from_claims(claims)
    except InvalidToken as exc:
        raise unauthorized(f"Invalid token: {exc}") from exc
    except RevocationUnavailable as exc:
        # Fail closed: a token that may be revoked is not honoured while Redis is away.
        raise Problem(
            503,
            "Token revocation cannot be checked right now; try again shortly.",
            headers={"Retry-After": "5"},
        ) from exc


def current_principal() -> Principal | None:
    return g.get("principal")


def require_auth(view: F) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        authenticate()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def optional_auth() -> Principal | None:
    """The principal when a bearer token is sent (and valid); None when no token is sent.

    A stale or invalid access cookie also counts as none: a browser keeps cookies after
    they stop working, and reading public pages must not fail because of it.
    """
    if "Authorization" in request.headers:
        return authenticate()
    if access_cookie() is None:
        return None
    try:
        return authenticate()
    except Problem as exc:
        if exc.status == 401:
            return None
        raise
