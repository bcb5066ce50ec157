"""Rate-limit counts reserved in batches: handed out in order, never past the limit."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest

from gateway_service import rate_leases
from gateway_service.rate_leases import MAX_BATCH, LeasedCounts, RateLeases


class Counter:
    """The Redis counter of one fixed window, as the edge's script moves it."""

    def __init__(self, window_seconds: float = 60) -> None:
        self.value = 0
        self.reset_at = time.time() + window_seconds
        self.trips = 0

    def add(self, amount: int) -> tuple[int, float]:
        self.trips += 1
        self.value += amount
        return self.value, self.reset_at


def count(leases: RateLeases, counter: Counter, key: str, limit: int) -> int:
    """One request's count, as Edge._count gets it."""
    taken = leases.take(key)
    if taken is not None:
        return taken[0]
    added = leases.batch(key, limit)
    total, reset_at = counter.add(added)
    return leases.reserved(key, total, reset_at, added, limit)


def test_a_window_starts_with_a_single_count_then_batches():
    leases, counter = RateLeases(), Counter()
    counts = [count(leases, counter, "k", 600) for _ in range(1 + 3 * MAX_BATCH)]
    assert counts == list(range(1, 2 + 3 * MAX_BATCH))  # in order, none twice or skipped
    assert counter.trips == 4  # the first alone, then MAX_BATCH at a time
    assert counter.value == 1 + 3 * MAX_BATCH


def test_batches_shrink_near_the_limit_and_nothing_is_admitted_past_it():
    leases, counter = RateLeases(), Counter()
    limit = 100
    counts = [count(leases, counter, "k", limit) for _ in range(130)]
    admitted = [c for c in counts if c <= limit]
    assert admitted == list(range(1, limit + 1))
    # Past the limit each request is counted by Redis (and refused by the Flask path).
    assert all(c > limit for c in counts[limit:])
    # No batch reaches past the limit, so every count above it is one refused request.
    assert counter.value == max(counts) == 130


def test_keys_are_counted_apart():
    leases, counter_a, counter_b = RateLeases(), Counter(), Counter()
    a = [count(leases, counter_a, "a", 600) for _ in range(20)]
    b = [count(leases, counter_b, "b", 600) for _ in range(5)]
    assert a == list(range(1, 21))
    assert b == list(range(1, 6))


def test_a_batch_is_not_used_in_its_windows_last_second(monkeypatch):
    leases, counter = RateLeases(), Counter(window_seconds=30)
    count(leases, counter, "k", 600)
    count(leases, counter, "k", 600)  # reserves a batch
    trips = counter.trips
    assert leases.take("k") is not None
    now = time.time()
    monkeypatch.setattr(rate_leases.time, "time", lambda: now + 29.2)
    assert leases.take("k") is None  # Redis rounds the window's end: it may be over
    assert leases.batch("k", 600) == 1  # and the next window starts with a single count
    assert counter.trips == trips


def test_the_reported_window_end_is_redis_own():
    leases, counter = RateLeases(), Counter(window_seconds=40)
    count(leases, counter, "k", 600)
    count(leases, counter, "k", 600)
    taken = leases.take("k")
    assert taken is not None
    assert taken[1] == pytest.approx(counter.reset_at)


@pytest.mark.parametrize("seed", range(5))
def test_workers_sharing_a_counter_never_admit_more_than_the_limit_together(seed):
    rng = random.Random(seed)
    counter, limit = Counter(), 500
    workers = [RateLeases() for _ in range(3)]
    counts = [count(rng.choice(workers), counter, "k", limit) for _ in range(800)]
    admitted = [c for c in counts if c <= limit]
    assert len(admitted) == len(set(admitted))  # no count handed out twice
    assert len(admitted) <= limit
    # Refused early only by what the other workers still hold: a few batches at most.
    assert len(admitted) >= limit - 2 * MAX_BATCH


def test_memory_is_bounded(monkeypatch):
    monkeypatch.setattr(rate_leases, "MAX_ENTRIES", 3)
    leases = RateLeases()
    for n in range(10):
        count(leases, Counter(), f"k{n}", 600)
    assert len(leases._leases) <= 3


class SlowCounter:
    """LoopHitCounter's incr_and_read on a Counter, taking a while as a round trip does."""

    def __init__(self) -> None:
        self.window = Counter()

    async def incr_and_read(
        self, key: str, expiry: int, read: list[str], amount: int = 1
    ) -> tuple[int, float, list[Any]]:
        await asyncio.sleep(0.01)
        total, reset_at = self.window.add(amount)
        return total, reset_at, [None] * len(read)


def test_requests_wait_for_a_reservation_on_its_way_instead_of_making_their_own(run):
    counter = SlowCounter()
    counts = LeasedCounts(counter)  # type: ignore[arg-type]

    async def burst(n: int) -> list[int]:
        answers = await asyncio.gather(*(counts.count("k", 60, 600, []) for _ in range(n)))
        return [answer[0] for answer in answers]

    assert run(burst(1)) == [1]
    assert sorted(run(burst(2 * MAX_BATCH))) == list(range(2, 2 + 2 * MAX_BATCH))
    assert counter.window.trips == 3  # the first alone, then two whole batches
    assert counter.window.value == 1 + 2 * MAX_BATCH  # nothing reserved twice or thrown away


def test_a_request_with_keys_to_read_always_makes_the_round_trip(run):
    counter = SlowCounter()
    counts = LeasedCounts(counter)  # type: ignore[arg-type]
    for _ in range(2):
        run(counts.count("k", 60, 600, []))
    trips = counter.window.trips  # 2: the first count alone, then a batch (2 to 1 + MAX_BATCH)
    count, _, values = run(counts.count("k", 60, 600, ["revoked:jti:x"]))
    assert values == [None]
    assert counter.window.trips == trips + 1
    assert count == 2 + MAX_BATCH  # counted alone, beside the batch
    # The batch is kept, not thrown away: the next requests use the rest of it.
    rest = [run(counts.count("k", 60, 600, []))[0] for _ in range(MAX_BATCH - 1)]
    assert rest == list(range(3, 2 + MAX_BATCH))
    assert counter.window.trips == trips + 1


def test_a_read_while_a_reservation_is_on_its_way_counts_alone(run):
    counter = SlowCounter()
    counts = LeasedCounts(counter)  # type: ignore[arg-type]
    run(counts.count("k", 60, 600, []))  # the window's first count: 1

    async def batch_and_read() -> list[int]:
        answers = await asyncio.gather(
            counts.count("k", 60, 600, []),  # reserves 2 to 1 + MAX_BATCH
            counts.count("k", 60, 600, ["revoked:jti:x"]),  # meanwhile: 2 + MAX_BATCH, alone
            counts.count("k", 60, 600, []),  # waits for the batch: 3
        )
        return [answer[0] for answer in answers]

    assert run(batch_and_read()) == [2, 2 + MAX_BATCH, 3]
    assert counter.window.value == 2 + MAX_BATCH  # nothing reserved that nobody can use
    rest = [run(counts.count("k", 60, 600, []))[0] for _ in range(MAX_BATCH - 2)]
    assert rest == list(range(4, 2 + MAX_BATCH))
