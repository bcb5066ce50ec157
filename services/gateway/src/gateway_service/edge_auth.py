"""The JWT check at the edge: a bad token never reaches a service (which verifies again anyway).

No Authorization header: the request passes on as anonymous (public reads stay public).
A header that is not a valid token: 401 here, even on a public read, so a client learns
at once that its token is bad instead of being silently served as anonymous.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, current_app, g, request

from shared.auth import bearer_token, missing_token, verify_or_problem
from shared.http_client import ServiceClient
from shared.problems import Problem
from shared.redis_store import get_redis
from shared.tokens import (
    JwksCache,
    Principal,
    RevocationList,
    TokenVerifier,
    http_jwks_source,
)

JWKS_PATH = "/auth/.well-known/jwks.json"
_VERIFIER = "edge_verifier"


class CachingTokenVerifier(TokenVerifier):
    """The common verifier, remembering tokens whose signature and claims already checked out.

    Signature checks are the costliest step at the edge and a client sends the same token
    again and again. A remembered token is still checked for expiry and, on every request,
    against the revocation list; it is forgotten after `max_age` seconds so a key removed
    from the JWKS stops being honoured soon.
    """

    def __init__(self, *args: Any, max_entries: int = 10_000, max_age: float = 60.0, **kw: Any):
        super().__init__(*args, **kw)
        self.max_entries = max_entries
        self.max_age = max_age
        self._verified: dict[tuple[str, str], tuple[dict[str, Any], float]] = {}

    def remembered(self, token: str, expected_type: str = "access") -> dict[str, Any] | None:
        """The claims of a token already verified and not yet forgotten, else None."""
        entry = self._verified.get((token, expected_type))
        if entry is not None and time.time() < entry[1]:
            return entry[0]
        return None

    def decode(self, token: str, expected_type: str = "access") -> dict[str, Any]:
        now = time.time()
        remembered = self.remembered(token, expected_type)
        if remembered is not None:
            return remembered
        claims = super().decode(token, expected_type)
        if len(self._verified) >= self.max_entries:
            self._verified.clear()  # crude but bounded; refilled by the next requests
        forget_at = min(float(claims["exp"]), now + self.max_age)
        self._verified[(token, expected_type)] = (claims, forget_at)
        return claims


def init_edge_auth(app: Flask, guarded_endpoints: set[str]) -> None:
    """Check tokens on `guarded_endpoints` (the proxied routes and /me)."""
    auth = ServiceClient(
        app.config["AUTH_SERVICE_URL"],
        app.config["UPSTREAM_CONNECT_TIMEOUT"],
        app.config["UPSTREAM_READ_TIMEOUT"],
    )
    source = app.config.get("JWKS_SOURCE") or http_jwks_source(auth, JWKS_PATH)
    app.extensions[_VERIFIER] = CachingTokenVerifier(
        JwksCache(source, cooldown=app.config["JWKS_REFETCH_COOLDOWN"]),
        issuer=app.config["JWT_ISSUER"],
        audience=app.config["JWT_AUDIENCE"],
        revocations=RevocationList(get_redis),
    )
    app.extensions["edge_guarded"] = guarded_endpoints


def edge_verifier(app: Flask) -> CachingTokenVerifier:
    return app.extensions[_VERIFIER]


def edge_principal(expected_type: str = "access") -> Principal:
    """Verify the request's bearer token, or raise the matching problem (401 or 503)."""
    token = bearer_token()
    if token is None:
        raise missing_token()
    verifier: CachingTokenVerifier = current_app.extensions[_VERIFIER]
    return verify_or_problem(verifier, token, expected_type)[1]


def verify_edge_token() -> None:
    """Verify a sent token; keep a failure for later so the rate limit still counts it."""
    if request.endpoint not in current_app.extensions["edge_guarded"]:
        return
    if "Authorization" not in request.headers:
        return
    if request.path in current_app.config["CLIENT_AUTH_PATHS"] and bearer_token() is None:
        return  # a client's Basic credentials, checked by auth itself
    refresh_paths = current_app.config["REFRESH_TOKEN_PATHS"]
    expected = "refresh" if request.path in refresh_paths else "access"
    try:
        g.principal = edge_principal(expected)
    except Problem as problem:
        g.edge_auth_problem = problem


def reject_bad_token() -> None:
    problem = g.pop("edge_auth_problem", None)
    if problem is not None:
        raise problem


def require_principal() -> Principal:
    """The principal the edge verified, or 401 when the request carried no token."""
    principal = g.get("principal")
    if principal is None:
        raise Problem(401, "Authentication required.", headers={"WWW-Authenticate": "Bearer"})
    return principal
