"""Rate limits: a fixed window per client in Redis, counted on the edge's loop.

One count per client (`user:<id>` with a valid token, else `addr:<client address>`) covers
everything the edge counts: the proxied API, `/me` and the console. Counts are reserved in
small batches (gateway_service.rate_leases) and a request's token revocation marks are read
on the same round trip when they must be read. If Redis is down, counting falls back to
the worker's own memory (the limit still holds per worker, not shared) and comes back to
Redis when it answers again.
"""

from __future__ import annotations

import math
import time
from typing import Any, NamedTuple

import redis.asyncio as aioredis
from limits import RateLimitItem, parse
from redis.exceptions import RedisError

from gateway_service.rate_leases import LeasedCounts

KEY_PREFIX = "ratelimit"
# Short timeouts: a dead Redis must cost a request milliseconds, not seconds.
REDIS_TIMEOUT_SECONDS = 0.5
MEMORY_ENTRIES = 10_000
# KEYS[1] the counter, KEYS[2..] keys to read; ARGV: expiry, amount.
INCR_TTL_AND_MGET = """
local amount = tonumber(ARGV[2])
local current = redis.call("incrby", KEYS[1], amount)
if tonumber(current) == amount then
    redis.call("expire", KEYS[1], ARGV[1])
end
local ttl = redis.call("ttl", KEYS[1])
local values = {}
if #KEYS > 1 then
    values = redis.call("mget", unpack(KEYS, 2))
end
return {current, ttl, values}
"""


class Window(NamedTuple):
    """The window a counted request reports in its RateLimit-* headers."""

    amount: int
    remaining: int
    reset_at: float


class Counted(NamedTuple):
    window: Window
    marks: list[Any] | None  # the values of the marks asked for; None: not read (Redis away)


class RedisCounter:
    """INCRBY, the window's end and the marks to read, in one round trip."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._script = client.register_script(INCR_TTL_AND_MGET)

    async def incr_and_read(
        self, key: str, expiry: int, read: list[str], amount: int
    ) -> tuple[int, float, list[Any]]:
        current, ttl, values = await self._script(keys=[key, *read], args=[expiry, amount])
        values = list(values) + [None] * (len(read) - len(values))  # Lua drops trailing nils
        return int(current), time.time() + max(int(ttl), 0), [v or None for v in values]


class RateLimits:
    def __init__(self, config: dict[str, Any], client: aioredis.Redis | None) -> None:
        self.enabled = bool(config["RATE_LIMIT_ENABLED"])
        self.user: RateLimitItem = parse(config["RATE_LIMIT"])
        self.anonymous: RateLimitItem = parse(config["RATE_LIMIT_ANONYMOUS"])
        self._counts = LeasedCounts(RedisCounter(client)) if client is not None else None
        self._memory: dict[str, tuple[float, int]] = {}

    async def count(self, client_key: str, user: bool, marks: list[str]) -> Counted | None:
        """Count one request of `client_key` and read `marks` on the way; None when limits
        are off. Marks come back None when Redis could not be asked."""
        if not self.enabled:
            return None
        limit = self.user if user else self.anonymous
        expiry = limit.get_expiry()
        key = f"{KEY_PREFIX}/{client_key}/{limit.amount}/{expiry}"
        if self._counts is not None:
            try:
                count, reset_at, values = await self._counts.count(key, expiry, limit.amount, marks)
                return Counted(Window(limit.amount, limit.amount - count, reset_at), values)
            except (RedisError, OSError):
                pass  # counted in this worker's memory until Redis answers again
        count, reset_at = self._in_memory(key, expiry)
        return Counted(Window(limit.amount, limit.amount - count, reset_at), None)

    def _in_memory(self, key: str, expiry: int) -> tuple[int, float]:
        now = time.time()
        start, count = self._memory.get(key, (0.0, 0))
        if now >= start + expiry:
            if len(self._memory) >= MEMORY_ENTRIES:
                self._memory.clear()
            start, count = now - now % expiry, 0
        self._memory[key] = (start, count + 1)
        return count + 1, start + expiry


def rate_limit_headers(window: Window, status: int) -> list[tuple[str, str]]:
    """RateLimit-Limit/Remaining/Reset (seconds from now, as the IETF draft has it), and
    Retry-After on a 429."""
    seconds = max(0, math.ceil(window.reset_at - time.time()))
    headers = [
        ("RateLimit-Limit", str(window.amount)),
        ("RateLimit-Remaining", str(max(0, window.remaining))),
        ("RateLimit-Reset", str(seconds)),
    ]
    if status == 429:
        headers.append(("Retry-After", str(max(1, seconds))))
    return headers
