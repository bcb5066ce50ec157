"""Rate limits with Flask-Limiter on Redis: per user with a valid token, else per address.

If Redis is down, limits fall back to each worker's memory (fail open on the shared
count, not on the limit itself) and come back to Redis when it answers again.
"""

from __future__ import annotations

import math
import time
from typing import Any

from flask import Flask, Response, current_app, g, request
from flask_limiter import Limiter

from gateway_service.forwarding import client_address
from gateway_service.limit_storage import storage_uri

# Flask-Limiter's keys: LIMITER/<prefix>/<user or address>/<endpoint>/<amount>/<per>/<unit>.
LIMITER_KEY_PREFIX = "ratelimit"


def rate_limit_key() -> str:
    principal = g.get("principal")
    if principal is not None:
        return f"user:{principal.id}"
    return f"addr:{client_address()}"


def current_limit() -> str:
    config = current_app.config
    return config["RATE_LIMIT"] if g.get("principal") else config["RATE_LIMIT_ANONYMOUS"]


def init_limits(app: Flask) -> Limiter:
    redis_url = app.config.get("REDIS_URL")
    limiter = Limiter(
        key_func=rate_limit_key,
        default_limits=[current_limit],
        storage_uri=storage_uri(redis_url),
        storage_options=_storage_options(redis_url),
        strategy="fixed-window",
        # Written below instead: Flask-Limiter puts Retry-After on every answer and a
        # timestamp in the reset header.
        headers_enabled=False,
        key_prefix=LIMITER_KEY_PREFIX,
        swallow_errors=True,
        in_memory_fallback_enabled=True,
        enabled=app.config["RATE_LIMIT_ENABLED"],
    )
    # Only the routed API and /me count; health, metrics and docs never do.
    limiter.request_filter(_exempt)
    limiter.init_app(app)
    app.extensions["gateway_limiter"] = limiter
    app.after_request(_rate_limit_headers)
    return limiter


# Short timeouts: a dead Redis must cost a request milliseconds, not seconds.
REDIS_TIMEOUT_SECONDS = 0.5


def _storage_options(redis_url: str | None) -> Any:
    if not redis_url:
        return {}
    return {
        "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
        "socket_timeout": REDIS_TIMEOUT_SECONDS,
    }


def _exempt() -> bool:
    return request.endpoint not in current_app.extensions["edge_guarded"]


def _rate_limit_headers(response: Response) -> Response:
    """RateLimit-Limit/Remaining/Reset (seconds from now, as the IETF draft has it) on every
    counted answer, and Retry-After on a 429."""
    limiter: Limiter = current_app.extensions["gateway_limiter"]
    current = limiter.current_limit if limiter.enabled else None
    if current is None:
        return response
    try:
        reset_at, remaining = current.window  # read back from the hit, no second round trip
    except Exception:  # storage gone between the hit and now: no headers, no failure
        return response
    response.headers.update(
        rate_limit_headers(current.limit.amount, remaining, reset_at, response.status_code)
    )
    return response


def rate_limit_headers(amount: int, remaining: int, reset_at: float, status: int) -> dict[str, str]:
    seconds = max(0, math.ceil(reset_at - time.time()))
    headers = {
        "RateLimit-Limit": str(amount),
        "RateLimit-Remaining": str(max(0, remaining)),
        "RateLimit-Reset": str(seconds),
    }
    if status == 429:
        headers["Retry-After"] = str(max(1, seconds))
    return headers
