"""Flask glue for the token verifier: bearer extraction and the require_auth decorator."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, g, request

from shared.problems import Problem
from shared.tokens import (
    InvalidToken,
    JwksCache,
    Principal,
    RevocationList,
    RevocationUnavailable,
    TokenVerifier,
    principal_from_claims,
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


def authenticate(expected_type: str = "access") -> Principal:
    """Verify the request's bearer token, or raise the matching problem (401 or 503)."""
    token = bearer_token()
    if token is None:
        if "Authorization" in request.headers:
            raise unauthorized("The Authorization header must be 'Bearer <token>'.")
        raise Problem(401, "Authentication required.", headers={"WWW-Authenticate": "Bearer"})
    try:
        claims = token_verifier().verify(token, expected_type)
    except InvalidToken as exc:
        raise unauthorized(f"Invalid token: {exc}") from exc
    except RevocationUnavailable as exc:
        raise Problem(
            503,
            "Token revocation cannot be checked right now; try again shortly.",
            headers={"Retry-After": "5"},
        ) from exc
    try:
        principal = principal_from_claims(claims)
    except InvalidToken as exc:
        raise unauthorized(f"Invalid token: {exc}") from exc
    g.principal = principal
    return principal


def current_principal() -> Principal | None:
    return g.get("principal")


def require_auth(view: F) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        authenticate()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def optional_auth() -> Principal | None:
    """The principal when a bearer token is sent (and valid); None when no token is sent."""
    if "Authorization" not in request.headers:
        return None
    return authenticate()
