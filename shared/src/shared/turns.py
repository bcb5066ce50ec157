"""What one turn of an event loop produces, handed on once when the turn ends.

On loopback and virtual machines every write is a system call and often a wake-up of
whoever reads it. Code on an event loop that writes a little per request, where nobody
waits for it (a log line), can instead add to a TurnBatch: the items added while the loop
runs its current turn (every request ready in it) are delivered together, in one write,
when the turn ends. What someone waits for (an answer, a Redis command) is better written
at once: held to the end of the turn it waits behind every other request of the turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class TurnBatch(Generic[T]):
    def __init__(self, loop: asyncio.AbstractEventLoop, deliver: Callable[[list[T]], None]) -> None:
        self.loop = loop  # kept: each get_running_loop() costs a getpid() system call
        self._deliver = deliver
        self._items: list[T] = []

    def add(self, item: T) -> None:
        if not self._items:
            self.loop.call_soon(self.flush)
        self._items.append(item)

    def flush(self) -> None:
        """Deliver what was added so far, now (also when the turn ends)."""
        items, self._items = self._items, []
        if items:
            self._deliver(items)

    def discard(self) -> None:
        self._items = []
