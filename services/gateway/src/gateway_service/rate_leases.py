"""Rate-limit counts reserved in small batches, so most requests skip the Redis round trip.

The fixed window is one Redis counter per client and window, and the edge used to add
one to it for every request. It now adds several at once (INCRBY n,
in the same script and round trip as before) and hands the reserved counts out itself,
one per request, in order. The counter in Redis is always at or above every count handed
out, so no worker admits a request past the limit, however many workers share it.

One round trip per counter is out at a time: requests that find the batch used up while
a reservation is on its way wait for it rather than each reserving their own.

What it costs: counts one worker has reserved and not yet used are spent for the others,
so a client whose requests are spread over several workers can be refused a little
early, never late. Batches are a quarter of what the window has left, at most
MAX_BATCH, so they shrink to single counts as the limit nears; a window's first
request is counted alone. A batch is not used in its window's last second, because Redis
reports the window's end rounded to the second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any, Protocol

MAX_BATCH = 32
SHARE = 4  # a batch is at most this fraction of what the window has left
MAX_ENTRIES = 10_000  # counters followed at once; past that, all start again
_MARGIN_SECONDS = 1.0


class _Lease:
    __slots__ = ("last", "next", "reset_at", "seen")

    def __init__(self, next_count: int, last: int, reset_at: float, seen: int) -> None:
        self.next = next_count  # the next count to hand out
        self.last = last  # the last one reserved, never past the limit
        self.reset_at = reset_at  # when the window ends, as Redis reported it
        self.seen = seen  # the counter's value when it was reserved

    def in_use(self, now: float) -> bool:
        """Whether the lease's window may still be counted in (not its last second)."""
        return now < self.reset_at - _MARGIN_SECONDS

    def lasts(self, now: float) -> bool:
        """Whether counts are left to hand out, in a window still in use."""
        return self.next <= self.last and self.in_use(now)


class RateLeases:
    """One worker's reserved counts, by counter key; used from its event loop only."""

    def __init__(self) -> None:
        self._leases: dict[str, _Lease] = {}

    def take(self, key: str) -> tuple[int, float] | None:
        """This request's count and its window's end, from a reserved batch; None when
        there is none left and Redis must count it."""
        lease = self._leases.get(key)
        if lease is None or not lease.lasts(time.time()):
            return None
        count = lease.next
        lease.next = count + 1
        return count, lease.reset_at

    def batch(self, key: str, amount: int) -> int:
        """How many counts the next round trip for `key` should add, this request's included."""
        lease = self._leases.get(key)
        now = time.time()
        if lease is None or not lease.in_use(now):
            return 1  # a new window, or one not seen lately: count alone
        if lease.lasts(now):
            return 1  # a request that must go to Redis anyway, while the batch lasts
        return max(1, min(MAX_BATCH, (amount - lease.seen) // SHARE))

    def reserved(self, key: str, counter: int, reset_at: float, added: int, amount: int) -> int:
        """A round trip added `added` to the counter, which now reads `counter`: returns
        this request's count and keeps the rest (those within `amount`) for later ones."""
        first = counter - added + 1
        lease = self._leases.get(key)
        if lease is not None and lease.lasts(time.time()):
            lease.seen = max(lease.seen, counter)
            return first  # counted alone beside a batch that still lasts: keep the batch
        if len(self._leases) >= MAX_ENTRIES and key not in self._leases:
            self._leases.clear()
        # Kept even when nothing is left over: the counter's value sizes the next batch.
        self._leases[key] = _Lease(first + 1, min(counter, amount), reset_at, counter)
        return first


class Counter(Protocol):
    def incr_and_read(
        self, key: str, expiry: int, read: list[str], amount: int
    ) -> Awaitable[tuple[int, float, list[Any]]]: ...


class LeasedCounts:
    """A worker's rate-limit counts: from its reserved batches when it can, else from Redis."""

    def __init__(self, counter: Counter) -> None:
        self.counter = counter
        self.leases = RateLeases()
        self._reserving: dict[str, asyncio.Future[None]] = {}

    async def count(
        self, key: str, expiry: int, amount: int, read: list[str]
    ) -> tuple[int, float, list[Any]]:
        """This request's count on the counter `key` (its storage-prefixed key), when the
        window ends, and the values of the keys in `read`, read on the round trip (a
        request with keys to read always makes one). Raises what the Redis call raises."""
        leases = self.leases
        while not read:
            taken = leases.take(key)
            if taken is not None:
                return taken[0], taken[1], []
            on_its_way = self._reserving.get(key)
            if on_its_way is None:
                break
            await on_its_way  # then take from its batch, or reserve the next
        # A trip while another is on its way (one reading keys) counts its request alone.
        reserving = None
        added = 1
        if key not in self._reserving:
            reserving = self._reserving[key] = asyncio.get_running_loop().create_future()
            added = leases.batch(key, amount)
        try:
            total, reset_at, values = await self.counter.incr_and_read(key, expiry, read, added)
            return leases.reserved(key, total, reset_at, added, amount), reset_at, values
        finally:
            if reserving is not None:
                del self._reserving[key]
                reserving.set_result(None)
