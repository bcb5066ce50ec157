"""Login throttling: failures counted in Redis per account-and-address and per address.

The account is the account itself (its id), whichever of its names was typed; a name that
matches no account is counted by the name.

Each counter lives for one window from its first failure (a fixed window). At the limit,
further attempts get 429 with Retry-After until the window ends, before any password is
hashed. A success clears the account-and-address counter, never the address one.
"""

from __future__ import annotations

import hashlib

import redis
from flask import current_app

from shared.problems import Problem
from shared.redis_store import get_redis


def account_key(account_id: int | None, typed_name: str) -> str:
    return f"id:{account_id}" if account_id is not None else f"name:{typed_name}"


def _keys(account_key: str, address: str) -> tuple[str, str]:
    # Hashed: the typed name is attacker-chosen text of any length.
    name = hashlib.sha256(account_key.encode()).hexdigest()[:32]
    return f"throttle:login:account:{name}:{address}", f"throttle:login:address:{address}"


def _unavailable(exc: Exception) -> Problem:
    # Fail closed: without the counters, guessing would be unlimited.
    return Problem(
        503, "Login is unavailable right now; try again shortly.", headers={"Retry-After": "5"}
    )


def check(account_key: str, address: str) -> None:
    config = current_app.config
    limits = (config["LOGIN_MAX_FAILURES_PER_ACCOUNT"], config["LOGIN_MAX_FAILURES_PER_ADDRESS"])
    keys = _keys(account_key, address)
    try:
        client = get_redis()
        counts = client.mget(keys)
        for key, count, limit in zip(keys, counts, limits, strict=True):
            if count is not None and int(count) >= limit:
                retry_after = max(int(client.ttl(key)), 1)
                raise Problem(
                    429,
                    "Too many failed logins; try again later.",
                    headers={"Retry-After": str(retry_after)},
                )
    except (redis.RedisError, OSError, RuntimeError) as exc:
        raise _unavailable(exc) from exc


def record_failure(account_key: str, address: str) -> None:
    window = current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"]
    try:
        with get_redis().pipeline(transaction=True) as pipe:
            for key in _keys(account_key, address):
                pipe.set(key, 0, ex=window, nx=True)
                pipe.incr(key)
            pipe.execute()
    except (redis.RedisError, OSError, RuntimeError) as exc:
        raise _unavailable(exc) from exc


def record_success(account_key: str, address: str) -> None:
    try:
        get_redis().delete(_keys(account_key, address)[0])
    except (redis.RedisError, OSError, RuntimeError) as exc:
        raise _unavailable(exc) from exc
