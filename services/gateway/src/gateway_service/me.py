"""GET /me: the account (auth), profile and latest posts (content), fetched concurrently.

An async view: the three upstream calls run at once on threads, so the answer takes as
long as the slowest call, not the sum. The edge has checked the bearer token and counted
the request; the view verifies it again with the common verifier, as every service does.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from typing import Any
from urllib.parse import urlencode

import requests
from flask import Blueprint, Response, current_app, g, jsonify, request

from gateway_service.forwarding import forwarded_headers
from shared.auth import authenticate
from shared.http_client import ServiceClient
from shared.problems import Problem

bp = Blueprint("me", __name__)

Fetched = tuple[int, Any] | None  # (status, JSON body), or None when the service did not answer


def _fetch(service: ServiceClient, path: str, headers: dict[str, str]) -> Fetched:
    try:
        response = service.get(path, headers=headers)
    except requests.RequestException:
        return None
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, None


@bp.get("/me")
async def me() -> Response:
    principal = authenticate()
    services: dict[str, ServiceClient] = current_app.extensions["services"]
    auth, content = services["auth"], services["content"]
    headers = forwarded_headers(
        request.headers.items(),
        peer=request.remote_addr or "",
        host=request.host,
        scheme=request.scheme,
        request_id=g.request_id,
        networks=current_app.config["TRUSTED_NETWORKS"],
    )
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
