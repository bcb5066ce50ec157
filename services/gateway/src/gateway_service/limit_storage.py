"""Flask-Limiter's Redis storage, answering a hit and its window in one round trip.

Flask-Limiter asks Redis three times per request for a fixed window (increment, then the
count and the expiry for the RateLimit-* headers). This storage increments and reads
the expiry in one script and hands the two reads the values it just got. The same script
reads other keys on the way when asked (the fast path: a token's revocation marks).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from limits.storage import RedisStorage

from gateway_service.loop_redis import LoopRedis

SCHEME_PREFIX = "gateway+"
# KEYS[1] the counter, KEYS[2..] keys to read; ARGV: expiry, amount.
INCR_TTL_AND_MGET = b"""
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
# The reads that follow a hit belong to the same request: far less than this.
_FRESH_SECONDS = 1.0


class OneTripRedisStorage(RedisStorage):
    STORAGE_SCHEME = ["gateway+redis", "gateway+rediss", "gateway+redis+unix"]

    def __init__(self, uri: str, **options: Any) -> None:
        super().__init__(uri.removeprefix(SCHEME_PREFIX), **options)
        self._incr_ttl_and_mget = self.get_connection().register_script(INCR_TTL_AND_MGET)
        self._last_hit = threading.local()  # gthread: one request at a time per thread

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        current, expires_at, _ = self.incr_and_read(key, expiry, [], amount)
        self._last_hit.entry = (key, current, expires_at, time.monotonic())
        return current

    def incr_and_read(
        self, key: str, expiry: int, read: list[str], amount: int = 1
    ) -> tuple[int, float, list[Any]]:
        """incr() plus the values of `read` (None when missing), in one round trip.

        Returns the count, when the window ends (epoch seconds) and the values read.
        """
        result = self._incr_ttl_and_mget([self.prefixed_key(key), *read], [expiry, amount])
        return counted(result, len(read))

    def _recent(self, key: str) -> tuple[str, int, float, float] | None:
        entry = getattr(self._last_hit, "entry", None)
        if entry and entry[0] == key and time.monotonic() - entry[3] < _FRESH_SECONDS:
            return entry
        return None

    def get(self, key: str) -> int:
        entry = self._recent(key)
        return entry[1] if entry else super().get(key)

    def get_expiry(self, key: str) -> float:
        entry = self._recent(key)
        return entry[2] if entry else super().get_expiry(key)


def counted(result: list[Any], read: int) -> tuple[int, float, list[Any]]:
    """The script's answer as the count, when the window ends (epoch seconds) and the
    values read (None when missing)."""
    current, ttl, values = result
    values = list(values) + [None] * (read - len(values))  # Lua drops trailing nils
    return int(current), time.time() + max(int(ttl), 0), [v or None for v in values]


class LoopHitCounter:
    """OneTripRedisStorage.incr_and_read for code on the event loop: the same script on the
    same keys, over one pipelined connection per loop (gateway_service.loop_redis)."""

    def __init__(self, redis_url: str, timeout: float, connect_timeout: float) -> None:
        self._redis = LoopRedis(redis_url, timeout, connect_timeout)

    async def incr_and_read(
        self, prefixed_key: str, expiry: int, read: list[str], amount: int = 1
    ) -> tuple[int, float, list[Any]]:
        """incr_and_read() of the storage whose prefixed_key() gave `prefixed_key`."""
        result = await self._redis.evalsha(
            INCR_TTL_AND_MGET, [prefixed_key, *read], [expiry, amount]
        )
        return counted(result, len(read))

    def close(self) -> None:
        self._redis.close()


def storage_uri(redis_url: str | None) -> str:
    if not redis_url:
        return "memory://"
    if redis_url.startswith("unix://"):
        redis_url = "redis+" + redis_url  # the limits library's spelling of a socket path
    return SCHEME_PREFIX + redis_url
