"""The JWT check at the edge: a bad token never reaches a service (which verifies again anyway).

No Authorization header: the request passes on as anonymous (public reads stay public).
A header that is not a valid token: 401 here, even on a public read, so a client learns
at once that its token is bad instead of being silently served as anonymous.
"""

from __future__ import annotations

from flask import Flask, current_app, g, request

from shared.auth import authenticate, init_token_verifier
from shared.http_client import ServiceClient
from shared.problems import Problem
from shared.redis_store import get_redis
from shared.tokens import JwksCache, RevocationList, http_jwks_source

JWKS_PATH = "/auth/.well-known/jwks.json"


def init_edge_auth(app: Flask, guarded_endpoints: set[str]) -> None:
    """Install the verifier; check tokens on `guarded_endpoints` (proxied routes and /me)."""
    auth = ServiceClient(
        app.config["AUTH_SERVICE_URL"],
        app.config["UPSTREAM_CONNECT_TIMEOUT"],
        app.config["UPSTREAM_READ_TIMEOUT"],
    )
    source = app.config.get("JWKS_SOURCE") or http_jwks_source(auth, JWKS_PATH)
    init_token_verifier(app, JwksCache(source), RevocationList(get_redis))
    app.extensions["edge_guarded"] = guarded_endpoints


def verify_edge_token() -> None:
    """Verify a sent token; keep a failure for later so the rate limit still counts it."""
    if request.endpoint not in current_app.extensions["edge_guarded"]:
        return
    if "Authorization" not in request.headers:
        return
    refresh_paths = current_app.config["REFRESH_TOKEN_PATHS"]
    expected = "refresh" if request.path in refresh_paths else "access"
    try:
        authenticate(expected)
    except Problem as problem:
        g.edge_auth_problem = problem


def reject_bad_token() -> None:
    problem = g.pop("edge_auth_problem", None)
    if problem is not None:
        raise problem
