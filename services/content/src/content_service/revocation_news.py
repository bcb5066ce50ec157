"""Revocation news for a threaded worker: Redis names each revocation mark as it is written.

Reading a token's revocation marks from Redis cost a round trip on every authenticated
request. Marks are rare, so each worker process follows them instead, the way the gateway
does on its event loop (gateway_service.revocation_news): one connection with Redis's
client tracking in broadcast mode (`CLIENT TRACKING on BCAST PREFIX revoked:`), subscribed
to the notices, naming every `revoked:*` key anyone writes. A token whose marks were read
clean is vouched for until a notice names one of them. redis-py's own client-side cache
would do the same, but it needs Redis 7.4, and the embedded Redis is 6.2.

Checked before trusting, so a revocation is never missed by a request that follows it:

- whoever revokes (shared.tokens.RevocationList) makes one more round trip after the write,
  so its notice has left Redis before the revoking request is answered;
- before vouching, every reply waiting on the subscription is read (a poll with no wait);
- a read of marks vouches only if no notice, flush or reconnection came after it was sent.

The subscription is pinged at most once a `heartbeat_seconds`, when requests come; the
worker vouches only while Redis has answered on it within heartbeat plus timeout, drops
it when a ping goes unanswered for the timeout, and subscribes again after
`retry_seconds`. Whenever it cannot vouch, requests read the marks from Redis as before
(and fail closed when Redis is away).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import redis

from shared.tokens import REVOCATION_PREFIX

log = logging.getLogger(__name__)

CHANNEL = b"__redis__:invalidate"  # where Redis sends tracking notices
MAX_TOKENS = 10_000  # past these, everything is forgotten and read again
MAX_CHANGED_MARKS = 10_000


class RevocationNews:
    """What one worker process has heard of revocation marks; any thread may ask."""

    def __init__(
        self,
        url: str,
        timeout: float = 0.5,
        connect_timeout: float = 0.5,
        retry_seconds: float = 1.0,
        heartbeat_seconds: float = 1.0,
    ) -> None:
        # RESP2: notices and pongs come as plain replies (under RESP3 they are pushes,
        # which redis-py's read_response() passes over while it waits for a reply).
        self._pool = redis.ConnectionPool.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=connect_timeout, protocol=2
        )
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self._lock = threading.Lock()
        self._conn: Any = None  # the subscription, while up
        self._next_attempt = 0.0
        self._last_reply = 0.0  # when Redis last said anything on the subscription
        self._ping_sent: float | None = None
        self._heard = 0  # notices and resets heard, counting up
        self._valid_from = 1  # reads sent before this count vouch for nothing
        self._changed: dict[bytes, int] = {}  # mark key -> the count when its notice came
        self._vouched: dict[str, int] = {}  # a token's first mark -> when its clean read left
        self._warned = False
        os.register_at_fork(after_in_child=self._forked)

    # -- what the verifier asks, per request (shared.tokens.RevocationList) ------------

    def vouches_for(self, marks: list[str]) -> bool:
        """Whether a token with these revocation marks is known not to be revoked."""
        with self._lock:
            if not self._caught_up():
                return False
            sent = self._vouched.get(marks[0])
            if sent is None or sent < self._valid_from:
                return False
            changed = self._changed
            return not (changed and any(changed.get(m.encode(), 0) > sent for m in marks))

    def check_started(self) -> int | None:
        """Stamp for a read of marks about to be sent; None while nothing is followed."""
        with self._lock:
            return self._heard if self._caught_up() else None

    def read_clean(self, marks: list[str], stamp: int | None) -> None:
        """A read of `marks` stamped `stamp` found the token not revoked: vouch for it."""
        if stamp is None:
            return
        with self._lock:
            if len(self._vouched) >= MAX_TOKENS:
                self._vouched.clear()
            self._vouched[marks[0]] = stamp

    # -- the subscription (under the lock) ---------------------------------------------

    def _caught_up(self) -> bool:
        """Read what waits on the subscription; whether it may vouch right now."""
        now = time.monotonic()
        if self._conn is None and not self._subscribe(now):
            return False
        try:
            conn = self._conn
            while conn.can_read(timeout=0):
                self._reply(conn.read_response(), now)
            if self._ping_sent is not None and now - self._ping_sent > self.timeout:
                raise TimeoutError("the subscription did not answer a ping")
            if self._ping_sent is None and now - self._last_reply >= self.heartbeat_seconds:
                conn.send_command("PING")
                self._ping_sent = now
        except Exception as exc:  # whatever it is, reads go to Redis until it is back
            log.warning("revocation news lost (%s)", type(exc).__name__)
            self._down(now)
            return False
        return now - self._last_reply <= self.heartbeat_seconds + self.timeout

    def _reply(self, reply: Any, now: float) -> None:
        self._last_reply = now
        kind = reply[0] if isinstance(reply, list) and reply else None
        if kind == b"pong":
            self._ping_sent = None
        elif kind == b"message" and reply[1] == CHANNEL:
            self._heard_of(reply[2])

    def _heard_of(self, keys: list[bytes] | None) -> None:
        """A notice: these keys changed, or (None) the database was flushed."""
        if keys is None or len(self._changed) + len(keys) > MAX_CHANGED_MARKS:
            self._forget_all()
            return
        self._heard += 1
        for key in keys:
            self._changed[key] = self._heard

    def _subscribe(self, now: float) -> bool:
        if now < self._next_attempt:
            return False
        self._next_attempt = now + self.retry_seconds
        conn = self._pool.make_connection()
        try:
            conn.connect()
            conn.send_command("CLIENT", "ID")
            own_id = conn.read_response()
            conn.send_command(
                "CLIENT", "TRACKING", "on", "REDIRECT", own_id, "BCAST",
                "PREFIX", REVOCATION_PREFIX,
            )  # fmt: skip
            conn.read_response()
            conn.send_command("SUBSCRIBE", CHANNEL)
            conn.read_response()
        except Exception as exc:
            conn.disconnect()
            if not self._warned:
                log.warning(
                    "revocation news unavailable (%s); reading marks on every request",
                    type(exc).__name__,
                )
                self._warned = True
            return False
        self._warned = False
        self._forget_all()  # anything vouched for before now was vouched without it
        self._conn, self._last_reply, self._ping_sent = conn, now, None
        return True

    def _forget_all(self) -> None:
        self._heard += 1
        self._valid_from = self._heard
        self._changed.clear()
        self._vouched.clear()

    def _down(self, now: float) -> None:
        if self._conn is not None:
            self._conn.disconnect()
        self._conn = None
        self._next_attempt = now + self.retry_seconds
        self._forget_all()

    def _forked(self) -> None:
        # The parent's subscription is not this process's: follow anew.
        self._lock = threading.Lock()
        self._conn = None
        self._forget_all()
        self._pool.reset()

    def close(self) -> None:
        with self._lock:
            self._down(time.monotonic())
