"""GET /me: the account (auth), profile and latest posts (content), fetched concurrently.

An async view: the three upstream calls run at once on threads (the pooled upstream
connections are blocking), so the answer takes as long as the slowest call, not the sum.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, g, jsonify, request

from gateway_service.edge_auth import require_principal
from gateway_service.forwarding import upstream_headers
from gateway_service.upstream import Upstream, UpstreamError
from shared.auth import authenticate
from shared.http_semantics import mark_personal
from shared.problems import Problem
from shared.tokens import Principal

bp = Blueprint("me", __name__)

Fetched = tuple[int, Any] | None  # (status, JSON body), or None when the service did not answer


def _fetch(upstream: Upstream, path: str, headers: dict[str, str]) -> Fetched:
    try:
        response = upstream.request("GET", path, headers)
    except UpstreamError:
        return None
    try:
        return response.status, response.json()
    except ValueError:
        return response.status, None


def _caller() -> Principal:
    """The edge's verified bearer token or, without an Authorization header, the access
    cookie (as every service accepts it; shared.auth); 401 without either."""
    if g.get("principal") is None and "Authorization" not in request.headers:
        return authenticate()
    principal = require_principal()
    mark_personal()
    return principal


@bp.get("/me")
async def me() -> Response:
    principal = _caller()
    upstreams: dict[str, Upstream] = current_app.extensions["upstreams"]
    auth, content = upstreams["auth"], upstreams["content"]
    headers = upstream_headers()
    headers.pop("Content-Type", None)
    posts_query = urlencode({"author": principal.username, "per_page": 5, "sort": "-created_at"})
    account, profile, posts = await asyncio.gather(
        _in_thread(_fetch, auth, "/auth/me", headers),
        _in_thread(_fetch, content, f"/api/users/{principal.id}", headers),
        _in_thread(_fetch, content, f"/api/posts?{posts_query}", headers),
    )
    if account is not None and account[0] == 401:
        # Auth knows better than the edge (e.g. the account is gone): say so.
        raise Problem(401, "The token is no longer accepted.")
    degraded = []
    if not _answered(account):
        degraded.append("auth")
    if not _answered(profile) or not _answered(posts):
        degraded.append("content")
    return jsonify(
        account=_body(account),
        # Content is one service: if either of its calls failed, neither part is shown.
        profile=_body(profile) if "content" not in degraded else None,
        posts=_body(posts) if "content" not in degraded else None,
        degraded=degraded,
    )


def _answered(result: Fetched) -> bool:
    """A service answered when it said something other than a server error."""
    return result is not None and result[0] < 500


def _body(result: Fetched) -> Any:
    if result is None or result[0] != 200:
        return None
    return result[1]


def _in_thread(function: Any, *args: Any) -> asyncio.Future[Any]:
    """Run on the app's shared pool (not a fresh one per request), with the request context."""
    executor = current_app.extensions["me_executor"]
    context = contextvars.copy_context()
    return asyncio.get_running_loop().run_in_executor(
        executor, functools.partial(context.run, function, *args)
    )
