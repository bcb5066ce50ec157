"""Rate limits with Flask-Limiter on Redis: per user with a valid token, else per address.

If Redis is down, limits fall back to each worker's memory (fail open on the shared
count, not on the limit itself) and come back to Redis when it answers again.
"""

from __future__ import annotations

import math
import time
from typing import Any

from flask import Flask, Response, current_app, g
from flask_limiter import HeaderNames, Limiter

from gateway_service.forwarding import client_address
from gateway_service.limit_storage import storage_uri

HEADERS = {
    HeaderNames.LIMIT: "RateLimit-Limit",
    HeaderNames.REMAINING: "RateLimit-Remaining",
    HeaderNames.RESET: "RateLimit-Reset",
    HeaderNames.RETRY_AFTER: "Retry-After",
}


def rate_limit_key() -> str:
    principal = g.get("principal")
    if principal is not None:
        return f"user:{principal.id}"
    return f"addr:{client_address()}"


def current_limit() -> str:
    config = current_app.config
    return config["RATE_LIMIT"] if g.get("principal") else config["RATE_LIMIT_ANONYMOUS"]


def init_limits(app: Flask) -> Limiter:
    # Registered before the limiter's own hook, so it runs after it (Flask runs them reversed).
    app.after_request(_reset_as_seconds)
    redis_url = app.config.get("REDIS_URL")
    limiter = Limiter(
        key_func=rate_limit_key,
        default_limits=[current_limit],
        storage_uri=storage_uri(redis_url),
        storage_options=_storage_options(redis_url),
        strategy="fixed-window",
        headers_enabled=True,
        header_name_mapping=HEADERS,
        key_prefix="ratelimit",
        swallow_errors=True,
        in_memory_fallback_enabled=True,
        enabled=app.config["RATE_LIMIT_ENABLED"],
    )
    # Only the routed API and /me count; health, metrics and docs never do.
    limiter.request_filter(_exempt)
    limiter.init_app(app)
    app.after_request(_remember_retry_after)
    return limiter


def _storage_options(redis_url: str | None) -> Any:
    # Short timeouts: a dead Redis must cost a request milliseconds, not seconds.
    return {"socket_connect_timeout": 0.5, "socket_timeout": 0.5} if redis_url else {}


def _exempt() -> bool:
    from flask import request

    return request.endpoint not in current_app.extensions["edge_guarded"]


_NO_RETRY_AFTER = object()


def _remember_retry_after(response: Response) -> Response:
    # Runs before Flask-Limiter's hook, which writes Retry-After on every answer.
    g.retry_after_before_limits = response.headers.get("Retry-After", _NO_RETRY_AFTER)
    return response


def _reset_as_seconds(response: Response) -> Response:
    """Tidy Flask-Limiter's headers: Retry-After only where it means something, Reset in seconds.

    The RateLimit header draft counts RateLimit-Reset in seconds from now, not a timestamp.
    """
    if response.status_code != 429 and "retry_after_before_limits" in g:
        before = g.pop("retry_after_before_limits")
        if before is _NO_RETRY_AFTER:
            response.headers.pop("Retry-After", None)
        else:
            response.headers["Retry-After"] = before
    reset = response.headers.get("RateLimit-Reset")
    if reset and reset.isdigit():
        # Flask-Limiter adds a second to the window end (reset_at = window end + 1).
        response.headers["RateLimit-Reset"] = str(max(0, math.ceil(int(reset) - 1 - time.time())))
    return response
