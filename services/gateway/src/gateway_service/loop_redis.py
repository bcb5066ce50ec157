"""One pipelined Redis connection for the event loop, for the edge's one script.

redis-py's asyncio client takes a pooled connection, packs, sends and reads each reply
line by line in Python for every command: on the edge that cost about 0.1 ms of CPU a
request. The edge sends one kind of command (EVALSHA of the hit script), so this keeps one
connection per worker loop, pipelines the commands of concurrent requests on it (Redis
answers in order) and parses replies with hiredis, the C parser redis-py itself uses when
installed. Each command is written at once: holding the commands of a loop turn to send
them in one write saved system calls but delayed every request behind the rest of the
turn, and measured slower end to end.

A command that gets no reply within `timeout` fails with TimeoutError and the connection
is dropped (the replies after it would be out of step); the next command reconnects. The
connection settings (host, port or socket path, TLS, user, password, database) are read
from the same URL as everywhere else, with redis-py's own parser.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import ssl
from collections import deque
from collections.abc import Callable
from typing import Any

import hiredis
from redis.asyncio.connection import SSLConnection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError


def pack(*args: bytes | str | int) -> bytes:
    """A command in RESP, the way every Redis client writes it."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


@functools.cache
def _script_sha(script: bytes) -> str:
    return hashlib.sha1(script, usedforsecurity=False).hexdigest()  # the name Redis gives it


class Replies(asyncio.Protocol):
    """Matches replies to the commands waiting for them, in the order they were sent."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.reader = hiredis.Reader(replyError=ResponseError)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.loop = asyncio.get_running_loop()

    def send(self, command: bytes) -> asyncio.Future[Any]:
        """Send a command; the future gets its reply."""
        future: asyncio.Future[Any] = self.loop.create_future()
        if self.transport is None:
            future.set_exception(RedisConnectionError("connection to Redis lost"))
            return future
        self.waiting.append(future)
        self.transport.write(command)
        return future

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            if self.waiting and not self.is_pushed(reply):
                future = self.waiting.popleft()
                if not future.done():
                    future.set_result(reply)
            else:
                self.pushed(reply)

    def is_pushed(self, reply: Any) -> bool:
        """Whether a reply is a message sent unasked (a subscription's), not a command's."""
        return False

    def pushed(self, reply: Any) -> None:
        """A message no command waits for (a subscription's); dropped unless overridden."""

    def connection_lost(self, exc: Exception | None) -> None:
        was_open, self.transport = self.transport is not None, None
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(RedisConnectionError("connection to Redis lost"))
        if was_open:
            self.lost()

    def lost(self) -> None:
        """Called once when the connection ends; for subclasses."""


def _time_out(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


class LoopRedis:
    def __init__(
        self,
        url: str,
        timeout: float,
        connect_timeout: float,
        protocol: Callable[[], Replies] = Replies,
    ) -> None:
        self.protocol = protocol  # what the connection is read by
        self.settings = parse_url(url)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._replies: Replies | None = None
        self._connecting: asyncio.Lock | None = None

    async def evalsha(self, script: bytes, keys: list[str], args: list[Any]) -> Any:
        """EVALSHA of `script` (loading it when Redis does not know it yet)."""
        sha = _script_sha(script)
        try:
            return await self.call("EVALSHA", sha, len(keys), *keys, *args)
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            return await self.call("EVAL", script, len(keys), *keys, *args)

    async def call(self, *args: Any) -> Any:
        return await self.exchange(await self._connection(), *args)

    async def exchange(self, replies: Replies, *args: Any) -> Any:
        """Send one command and wait for its reply; no reply in time drops the connection."""
        future = replies.send(pack(*args))
        loop = replies.loop
        # A timer on the future, not a timeout context: no task lookup, one handle.
        timer = loop.call_at(loop.time() + self.timeout, _time_out, future)
        try:
            reply = await future
        except TimeoutError:
            self._drop(replies)
            raise
        finally:
            timer.cancel()
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    async def _connection(self) -> Replies:
        replies = self._replies
        if replies is not None and replies.transport is not None:
            return replies
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:  # concurrent requests wait for one connection
            if self._replies is None or self._replies.transport is None:
                self._replies = await self.connect()
            return self._replies

    async def connect(self) -> Replies:
        """A new connection, authenticated and on its database, read by `protocol`."""
        loop = asyncio.get_running_loop()
        settings = self.settings
        try:
            async with asyncio.timeout(self.connect_timeout):
                if "path" in settings:
                    _, replies = await loop.create_unix_connection(self.protocol, settings["path"])
                else:
                    tls = (
                        ssl.create_default_context()
                        if settings.get("connection_class") is SSLConnection
                        else None
                    )
                    _, replies = await loop.create_connection(
                        self.protocol,
                        settings.get("host", "localhost"),
                        settings.get("port", 6379),
                        ssl=tls,
                    )
        except OSError as exc:
            raise RedisConnectionError(f"cannot reach Redis: {type(exc).__name__}") from exc
        try:
            if settings.get("password"):
                credentials = [settings.get("username") or "default", settings["password"]]
                await self.exchange(replies, "AUTH", *credentials)
            if settings.get("db"):
                await self.exchange(replies, "SELECT", settings["db"])
        except BaseException:
            self._drop(replies)
            raise
        return replies

    def close(self) -> None:
        if self._replies is not None:
            self._drop(self._replies)

    def _drop(self, replies: Replies) -> None:
        if replies.transport is not None:
            replies.transport.close()
        replies.connection_lost(None)
        if self._replies is replies:
            self._replies = None
