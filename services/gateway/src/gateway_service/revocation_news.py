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
- A request the news would vouch for first lets the loop run once (asyncio.sleep(0)): a
  notice that reached the worker before the request did is read in that turn.
- Checks in flight when a notice, a reconnection or a flush arrives vouch for nothing:
  each check is stamped with the news heard when it was sent.

If Redis cannot track (an old server, CLIENT disabled), the worker stays on per-request
reads; a lost subscription is made again after `retry_seconds`, and everything vouched
for before it is forgotten. The worker pings Redis on the subscription every
quiet `heartbeat_seconds` and drops it when a ping goes unanswered for as long, so a
connection that breaks without a word (a middlebox dropping it) hides notices for at most
two heartbeats (2 s by default) before the worker reads marks per request again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import redis.asyncio as aioredis

from shared.tokens import REVOCATION_PREFIX

log = logging.getLogger(__name__)

CHANNEL = b"__redis__:invalidate"  # where Redis sends tracking notices
# Bounds on what is remembered; past them everything is forgotten and read again.
MAX_TOKENS = 10_000
MAX_CHANGED_MARKS = 10_000
HEARTBEAT_SECONDS = 1.0  # how often Redis is asked, on the subscription, whether it is there


class RevocationNews:
    """What one worker has heard of revocation marks; used from its event loop only."""

    def __init__(
        self,
        url: str,
        timeout: float,
        retry_seconds: float = 1.0,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
    ) -> None:
        # RESP2: notices come on the `__redis__:invalidate` channel, which redis-py reads
        # as pubsub messages (under RESP3 they are pushes its asyncio client keeps to itself).
        self._client = aioredis.Redis.from_url(
            url, protocol=2, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self.retry_seconds = retry_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self._connection: Any = None  # while subscribed
        self._heard = 0  # notices and resets heard, counting up
        self._valid_from = 1  # checks sent before this count vouch for nothing
        self._changed: dict[str, int] = {}  # mark key -> the count when its notice came
        self._vouched: dict[str, int] = {}  # a token's first mark -> when its clean check left
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._warned = False

    @property
    def live(self) -> bool:
        return self._connection is not None

    # -- what the edge asks, per request ---------------------------------------------

    def vouches_for(self, marks: list[str]) -> bool:
        """Whether a token with these revocation marks is known not to be revoked."""
        if self._connection is None:
            return False
        sent = self._vouched.get(marks[0])
        if sent is None or sent < self._valid_from:
            return False
        changed = self._changed
        return not (changed and any(changed.get(mark, 0) > sent for mark in marks))

    def check_started(self) -> int | None:
        """Stamp for a read of marks about to be sent; None while nothing is followed."""
        if self._connection is None:
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

    # -- the subscription --------------------------------------------------------------

    async def _follow(self) -> None:
        """Keep the subscription up until close()."""
        while not self._closing:
            connection = self._client.connection_pool.make_connection()
            try:
                await self._subscribe(connection)
                self._warned = False
                await self._listen(connection)
            except Exception as exc:  # whatever it is, the edge reads marks per request
                if not self._warned and self._connection is None:
                    log.warning(
                        "revocation news unavailable (%s); reading marks on every request",
                        f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
                    )
                    self._warned = True
            finally:
                self._down()
                await connection.disconnect()
            await asyncio.sleep(self.retry_seconds)

    async def _subscribe(self, connection: Any) -> None:
        """Track `revoked:*` in broadcast mode, the notices sent to this very connection."""
        await connection.connect()
        own_id = await _ask(connection, "CLIENT", "ID")
        await _ask(
            connection, "CLIENT", "TRACKING", "on", "REDIRECT", own_id, "BCAST",
            "PREFIX", REVOCATION_PREFIX,
        )  # fmt: skip
        await _ask(connection, "SUBSCRIBE", CHANNEL)
        # Anything vouched for before now was vouched without this subscription.
        self._forget_all()
        self._connection = connection

    async def _listen(self, connection: Any) -> None:
        """Read notices until the connection fails; a ping unanswered for a heartbeat ends it."""
        pinged = False
        while True:
            # Subscription messages are pushes to redis-py's parser: asked for as such.
            reply = await connection.read_response(
                timeout=self.heartbeat_seconds, push_request=True
            )
            if reply is None:
                if pinged:
                    raise TimeoutError("Redis did not answer the subscription's ping")
                await connection.send_command("PING")
                pinged = True
            elif isinstance(reply, list) and reply[:1] == [b"pong"]:
                pinged = False
            elif isinstance(reply, list) and len(reply) == 3 and reply[:2] == [b"message", CHANNEL]:
                self.heard(reply[2])

    def _down(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._forget_all()

    async def close(self) -> None:
        # One cancel is not always enough: redis-py can lose a cancellation that lands
        # while it is tearing a failed connection down, and the loop above would go on
        # (seen with a user whose ACL refuses CLIENT: close() then never returned). So
        # the loop also stops on the flag, and the task is cancelled until it is done.
        self._closing = True
        task, self._task = self._task, None
        while task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.1)
        await self._client.aclose()


async def _ask(connection: Any, *command: Any) -> Any:
    await connection.send_command(*command)
    return await connection.read_response(push_request=True)
