"""One Redis connection pool per app, created lazily from REDIS_URL."""

from __future__ import annotations

import redis
from flask import Flask, current_app

_EXTENSION = "suite_redis"


def init_redis(app: Flask) -> None:
    url = app.config.get("REDIS_URL")
    client = None
    if url:
        # Short timeouts: a dead Redis must cost a quick 503, not a hung worker.
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=0.5,
            socket_timeout=1.0,
            health_check_interval=30,
            decode_responses=True,
        )
    app.extensions[_EXTENSION] = client


def get_redis() -> redis.Redis:
    client = current_app.extensions.get(_EXTENSION)
    if client is None:
        raise RuntimeError("REDIS_URL is not configured")
    return client
