"""A circuit breaker per upstream: stop calling a service that keeps failing, probe it later.

State lives in the worker process (each gunicorn worker learns on its own); that is
enough to shed load from a dead service within a handful of requests per worker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

CLOSED, HALF_OPEN, OPEN = "closed", "half_open", "open"
STATE_VALUES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}


class CircuitOpen(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"circuit open, retry after {retry_after:.0f}s")
        self.retry_after = retry_after


class CircuitBreaker:
    """Opens after `threshold` consecutive failures; after `reset_seconds`, lets one probe by."""

    def __init__(
        self,
        threshold: int = 5,
        reset_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self.threshold = threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at = 0.0
        self._state = CLOSED
        self._probe_in_flight = False

    @property
    def state(self) -> str:
        with self._lock:
            return self._current_state()

    def _current_state(self) -> str:
        if self._state == OPEN and self._clock() - self._opened_at >= self.reset_seconds:
            self._set(HALF_OPEN)
        return self._state

    def before_call(self) -> None:
        """Raise CircuitOpen unless a call may go ahead now."""
        if self._state == CLOSED:  # the hot path takes no lock
            return
        with self._lock:
            state = self._current_state()
            if state == CLOSED:
                return
            if state == HALF_OPEN and not self._probe_in_flight:
                self._probe_in_flight = True
                return
            remaining = self.reset_seconds - (self._clock() - self._opened_at)
            raise CircuitOpen(max(remaining, 1.0))

    def record_success(self) -> None:
        if self._state == CLOSED and self._failures == 0:
            return
        with self._lock:
            self._failures = 0
            self._probe_in_flight = False
            self._set(CLOSED)

    def release_probe(self) -> None:
        """The call ended without telling anything about the upstream."""
        with self._lock:
            self._probe_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            self._probe_in_flight = False
            if self._state == HALF_OPEN or self._failures >= self.threshold:
                self._opened_at = self._clock()
                self._set(OPEN)

    def _set(self, state: str) -> None:
        if state != self._state:
            self._state = state
            if self._on_change is not None:
                self._on_change(state)
