"""Revocation news: Redis tells each gateway worker when a revocation mark is written.

The edge used to read a token's revocation marks from Redis on every request. Marks are
rare and requests are many, so each worker now follows them instead: Redis's client
tracking in broadcast mode (`CLIENT TRACKING on BCAST PREFIX revoked:`) sends a notice
naming every `revoked:*` key any client writes, on a subscription the worker keeps. A
token whose marks were read clean while the subscription was up is vouched for until a
notice names one of its marks; then, and whenever the subscription is down, its requests
read the marks from Redis again, as before.

A revocation is never missed by a request that follows it:

- Redis sends the notice in the event-loop turn in which it acknowledges the write, and
  whoever revokes (shared.tokens.RevocationList) makes one more round trip before going
  on, so the notice has left Redis before the revoking request (a logout) is answered.
- A notice that has reached the worker but not yet been read by its loop is seen by
  looking at the subscription's socket (one poll() with no wait) before vouching.
- Checks in flight when a notice, a reconnection or a flush arrives vouch for nothing:
  each check is stamped with the news heard when it was sent.

If Redis cannot track (an old server, CLIENT disabled), the worker stays on per-request
reads; a lost subscription is made again after `retry_seconds`, and everything vouched
for before it is forgotten. The worker pings Redis on the subscription every
`heartbeat_seconds` and drops it when a ping goes unanswered for the command timeout, so
a connection that breaks without a word (a middlebox dropping it) hides notices for at
most that long (1.5 s by default) before the worker reads marks per request again.
"""

from __future__ import annotations

import asyncio
import logging
import select
from typing import Any, cast

from gateway_service.loop_redis import LoopRedis, Replies
from shared.tokens import REVOCATION_PREFIX

log = logging.getLogger(__name__)

CHANNEL = b"__redis__:invalidate"  # where Redis sends tracking notices
# Bounds on what is remembered; past them everything is forgotten and read again.
MAX_TOKENS = 10_000
MAX_CHANGED_MARKS = 10_000
HEARTBEAT_SECONDS = 1.0  # how often Redis is asked, on the subscription, whether it is there


class _Notices(Replies):
    """The subscription's connection: notices go to the news, its end too."""

    def __init__(self, news: RevocationNews) -> None:
        super().__init__()
        self.news = news
        # Made by the loop's create_connection(), so on the loop.
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def is_pushed(self, reply: Any) -> bool:
        return isinstance(reply, list) and len(reply) == 3 and reply[0] == b"message"

    def pushed(self, reply: Any) -> None:
        if self.is_pushed(reply) and reply[1] == CHANNEL:
            self.news.heard(reply[2])

    def lost(self) -> None:
        if not self.ended.done():
            self.ended.set_result(None)


class RevocationNews:
    """What one worker has heard of revocation marks; used from its event loop only."""

    def __init__(
        self,
        url: str,
        timeout: float,
        connect_timeout: float,
        retry_seconds: float = 1.0,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
    ) -> None:
        self._redis = LoopRedis(url, timeout, connect_timeout, protocol=lambda: _Notices(self))
        self.retry_seconds = retry_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self._notices: _Notices | None = None  # while subscribed
        self._poll: select.poll | None = None  # on the subscription's socket
        self._heard = 0  # notices and resets heard, counting up
        self._valid_from = 1  # checks sent before this count vouch for nothing
        self._changed: dict[str, int] = {}  # mark key -> the count when its notice came
        self._vouched: dict[str, int] = {}  # a token's first mark -> when its clean check left
        self._task: asyncio.Task[None] | None = None
        self._warned = False

    @property
    def live(self) -> bool:
        return self._notices is not None

    # -- what the edge asks, per request ---------------------------------------------

    def vouches_for(self, marks: list[str]) -> bool:
        """Whether a token with these revocation marks is known not to be revoked."""
        if self._notices is None:
            return False
        sent = self._vouched.get(marks[0])
        if sent is None or sent < self._valid_from:
            return False
        changed = self._changed
        if changed and any(changed.get(mark, 0) > sent for mark in marks):
            return False
        return not self._unread()

    def check_started(self) -> int | None:
        """Stamp for a read of marks about to be sent; None while nothing is followed."""
        if self._notices is None:
            if self._task is None:
                self._task = asyncio.get_running_loop().create_task(self._follow())
            return None
        return self._heard

    def read_clean(self, marks: list[str], stamp: int | None) -> None:
        """A read of `marks` stamped `stamp` found the token not revoked: vouch for it."""
        if stamp is None:
            return  # notices, flushes and reconnections since the stamp: vouches_for()
        if len(self._vouched) >= MAX_TOKENS:
            self._vouched.clear()
        self._vouched[marks[0]] = stamp

    # -- what Redis says ---------------------------------------------------------------

    def heard(self, keys: list[bytes] | None) -> None:
        """A notice: these keys changed, or (None) the database was flushed."""
        if keys is None or len(self._changed) + len(keys) > MAX_CHANGED_MARKS:
            self._forget_all()
            return
        self._heard += 1
        for key in keys:
            self._changed[key.decode("utf-8", "replace")] = self._heard

    def _forget_all(self) -> None:
        self._heard += 1
        self._valid_from = self._heard
        self._changed.clear()
        self._vouched.clear()

    def _unread(self) -> bool:
        """Whether a notice, or part of one, waits to be read (or the socket has ended)."""
        notices, poll = self._notices, self._poll
        if notices is None or poll is None:
            return True
        return notices.reader.has_data() or bool(poll.poll(0))

    # -- the subscription --------------------------------------------------------------

    async def _follow(self) -> None:
        """Keep the subscription up for the life of the loop."""
        while True:
            try:
                notices = await self._subscribe()
            except Exception as exc:  # whatever it is, the edge reads marks per request
                if not self._warned:
                    log.warning(
                        "revocation news unavailable (%s); reading marks on every request",
                        f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
                    )
                    self._warned = True
            else:
                self._warned = False
                await self._keep_beating(notices)
                self._down()
            await asyncio.sleep(self.retry_seconds)

    async def _keep_beating(self, notices: _Notices) -> None:
        """Ping Redis on the subscription until it ends; one not answered in time ends it."""
        ended = notices.ended
        while not ended.done():
            await asyncio.wait([ended], timeout=self.heartbeat_seconds)
            if ended.done():
                return
            try:
                await self._redis.exchange(notices, "PING")  # a late answer drops the connection
            except Exception:
                return

    async def _subscribe(self) -> _Notices:
        notices = cast(_Notices, await self._redis.connect())  # made by our protocol factory
        try:
            own_id = await self._redis.exchange(notices, "CLIENT", "ID")
            await self._redis.exchange(
                notices, "CLIENT", "TRACKING", "on", "REDIRECT", own_id, "BCAST",
                "PREFIX", REVOCATION_PREFIX,
            )  # fmt: skip
            await self._redis.exchange(notices, "SUBSCRIBE", CHANNEL)
            transport = notices.transport
            if transport is None:
                raise OSError("connection to Redis lost")
            poll = select.poll()
            poll.register(transport.get_extra_info("socket").fileno(), select.POLLIN)
        except BaseException:
            _close(notices)
            raise
        # Anything vouched for before now was vouched without this subscription.
        self._forget_all()
        self._notices, self._poll = notices, poll
        return notices

    def _down(self) -> None:
        if self._notices is not None:
            _close(self._notices)
        self._notices = self._poll = None
        self._forget_all()

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._down()


def _close(notices: _Notices) -> None:
    if notices.transport is not None:
        notices.transport.close()
