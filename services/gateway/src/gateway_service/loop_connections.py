"""Kept-alive connections to one upstream for the event loop (gateway_service.edge).

The counterpart of gateway_service.connections for code running on asyncio: the same
exceptions, the same reuse rule (a connection goes back to the pool only after its answer
was read to the end and the upstream did not ask to close it) and the same framing
(lengths, chunks, HEAD and bodiless statuses, interim 1xx answers skipped,
close-delimited answers). Only requests without a body are sent: the edge hands every
request with a body to the Flask app.

Each connection is an asyncio protocol that feeds what arrives straight to httptools'
parser (llhttp, the C parser uvicorn reads requests with). Asyncio's streams cost a task
switch, a timeout context and a Python-level scan for every read; here a wait is one
future and one timer, and a small body of announced length arrives with its head, so most
answers cost the request a single wake-up.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator

import httptools

from gateway_service.connections import AnswerBroken, AnswerTimedOut, ConnectFailed, ConnectTimedOut

# An answer's status line and headers together may not be longer than this.
MAX_HEAD_BYTES = 64 * 1024
# A body up to this size is read with its head, in one go (most API answers).
PREFETCH_BYTES = 64 * 1024
# Beyond this much body not yet taken by the reader, the connection stops reading.
BUFFER_HIGH_WATER = 256 * 1024


class AnswerHeaders:
    """An answer's headers in the order sent; get() by any spelling of the name."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = items
        self._by_name: dict[str, str] = {}
        for name, value in items:
            self._by_name.setdefault(name.lower(), value)

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._by_name.get(name.lower(), default)


class UpstreamConnection(asyncio.Protocol):
    """One connection, one exchange at a time: start() sends a request, the parser's
    callbacks collect the answer, wait() sleeps until there is news for the reader."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._parser: httptools.HttpResponseParser | None = None  # None: no exchange
        self._waiter: asyncio.Future[None] | None = None
        self._failure: Exception | None = None
        self._paused = False  # reading paused: the reader has not taken enough yet
        self._reset(bodiless=False)

    def _reset(self, bodiless: bool) -> None:
        self.status = 0
        self.reason = ""
        self.headers: list[tuple[str, str]] = []
        self.keep_alive = False
        self.head_done = False  # the final (non-1xx) head has been parsed
        self.delivered = False  # ... and handed to the reader, who now waits for body only
        self.complete = False  # the whole answer has arrived
        self.until_close = False  # the body ends when the upstream closes
        self.buffered: deque[bytes] = deque()
        self.buffered_size = 0
        self._head_size = 0
        self._bodiless = bodiless  # an answer to HEAD: never a body, whatever it announces
        self._small = False  # its body is read with its head

    # -- the reader's side -------------------------------------------------------------------

    def start(self, request: bytes, bodiless: bool) -> None:
        """Send a request; its answer replaces any trace of the previous one."""
        if self.transport is None:  # closed since it was taken from the pool
            raise ConnectionResetError("connection closed")
        self._reset(bodiless)
        self._failure = None
        self._parser = httptools.HttpResponseParser(self)
        self.transport.write(request)

    @property
    def head_ready(self) -> bool:
        """The head is here, and with it the body if it is small."""
        return self.complete or (self.head_done and not self._small)

    async def wait(self, deadline: float) -> None:
        """Sleep until the parser makes progress; TimeoutError at `deadline` (the loop's
        time), the connection's failure (an OSError or ValueError) if it broke."""
        if self._failure is None:
            waiter = self._waiter = self.loop.create_future()
            timer = self.loop.call_at(deadline, _time_out, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        if self._failure is not None:
            raise self._failure

    def take(self, amount: int | None) -> bytes:
        """Up to `amount` bytes of the body that has arrived (all of it when None)."""
        if not self.buffered:
            return b""
        if amount is None or self.buffered_size <= amount:
            data = b"".join(self.buffered) if len(self.buffered) > 1 else self.buffered[0]
            self.buffered.clear()
        else:
            joined = b"".join(self.buffered)
            data, rest = joined[:amount], joined[amount:]
            self.buffered.clear()
            self.buffered.append(rest)
        self.buffered_size -= len(data)
        if self._paused and self.buffered_size < BUFFER_HIGH_WATER:
            self._paused = False
            if self.transport is not None:
                self.transport.resume_reading()
        return data

    def finish(self) -> None:
        """The exchange is over: the connection is idle (or to be closed)."""
        self._parser = None

    def close(self) -> None:
        self._parser = None
        if self.transport is not None:
            self.transport.close()

    # -- the parser's callbacks (httptools) ------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.head_done:  # more after the answer: the connection is out of step
            raise ValueError("more than one answer to one request")

    def on_status(self, reason: bytes) -> None:
        self.reason = reason.decode("latin-1")
        self._count_head(len(reason) + 15)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.head_done:
            return  # a chunked answer's trailers: not relayed
        self._count_head(len(name) + len(value) + 4)
        self.headers.append((name.decode("latin-1"), value.decode("latin-1").strip()))

    def on_headers_complete(self) -> None:
        parser = self._parser
        if parser is None:
            return
        status = parser.get_status_code()
        if 100 <= status < 200:  # 100 Continue, 103 Early Hints: the real answer follows
            self.headers, self._head_size = [], 0
            return
        self.status = status
        self.keep_alive = parser.should_keep_alive()
        self.head_done = True
        headers = {name.lower(): value for name, value in self.headers}
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length", "")
        if self._bodiless:
            self.complete = True  # the parser would wait for the announced body: never comes
        elif not chunked and not length.isdigit() and status not in (204, 304):
            self.until_close, self.keep_alive = True, False
        self._small = (
            not chunked and length.isdigit() and int(length) <= PREFETCH_BYTES
        ) and not self.complete
        if self.head_ready:
            self._wake()

    def on_body(self, data: bytes) -> None:
        if self.complete:  # a body after the end (to HEAD): the connection is out of step
            self.keep_alive = False
            return
        self.buffered.append(data)
        self.buffered_size += len(data)
        if self.buffered_size >= BUFFER_HIGH_WATER and not self._paused:
            self._paused = True
            if self.transport is not None:
                self.transport.pause_reading()
        if self.delivered or not self._small:
            self._wake()

    def on_message_complete(self) -> None:
        if self.head_done:  # not an interim answer's end
            self.complete = True
            self._wake()

    def _count_head(self, size: int) -> None:
        self._head_size += size
        if self._head_size > MAX_HEAD_BYTES:
            raise ValueError("answer head too long")

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the transport's callbacks -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None or self.complete:  # nobody asked: the connection is out of step
            self.keep_alive = False
            self.close()
            return
        try:
            parser.feed_data(data)
        except httptools.HttpParserError as exc:  # not HTTP, or a head too long
            self._fail(ValueError(str(exc.__context__ or exc)))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.transport = None
        if self._parser is None or self.complete:
            return
        if self.until_close and self.head_done:
            self.complete = True  # a close-delimited body ends here
            self._wake()
        else:
            self._fail(exc or ConnectionResetError("closed before the answer ended"))

    def _fail(self, failure: Exception) -> None:
        self.keep_alive = False
        if self.transport is not None:
            self.transport.close()
        if self.complete:
            return  # the answer is whole: only the connection is lost
        self._failure = failure
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(failure)


def _time_out(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class LoopConnectionPool:
    """A LIFO of idle connections to one host, for one event loop; beyond `maxsize` idle
    ones, extra connections are opened for a burst and closed after it."""

    def __init__(
        self, scheme: str, host: str, port: int | None, connect_timeout: float, maxsize: int
    ) -> None:
        self.host = host
        self.port = port or (443 if scheme == "https" else 80)
        self.connect_timeout = connect_timeout
        self.maxsize = maxsize
        self.host_header = (
            host if self.port == (443 if scheme == "https" else 80) else (f"{host}:{self.port}")
        )
        self._idle: list[UpstreamConnection] = []
        self._tls = ssl.create_default_context() if scheme == "https" else None

    async def get(self) -> tuple[UpstreamConnection, bool]:
        """A connection, and whether it was reused."""
        while self._idle:
            connection = self._idle.pop()
            # The loop has already read the FIN of a connection the upstream closed.
            if not connection.closed:
                return connection, True
        return await self._open(), False

    def put(self, connection: UpstreamConnection) -> None:
        connection.finish()
        if len(self._idle) < self.maxsize and not connection.closed:
            self._idle.append(connection)
        else:
            connection.close()

    def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    async def _open(self) -> UpstreamConnection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: UpstreamConnection(loop), self.host, self.port, ssl=self._tls
                )
                return connection
        except TimeoutError as exc:
            raise ConnectTimedOut(f"no connection in {self.connect_timeout} s") from exc
        except OSError as exc:
            raise ConnectFailed(type(exc).__name__) from exc


class LoopAnswer:
    """An upstream's answer: status and headers at once, the body read or streamed after."""

    def __init__(
        self, connection: UpstreamConnection, pool: LoopConnectionPool, read_timeout: float
    ) -> None:
        self.status = connection.status
        self.reason = connection.reason
        self.headers = AnswerHeaders(connection.headers)  # case-insensitive get(), items()
        self._connection: UpstreamConnection | None = connection
        self._pool = pool
        self._timeout = read_timeout
        connection.delivered = True

    async def read(self, amount: int | None = None) -> bytes:
        """The body (up to `amount` bytes); the connection is released once it is all read."""
        connection = self._open_connection()
        parts, size = [], 0
        while amount is None or size < amount:
            data = connection.take(None if amount is None else amount - size)
            if data:
                parts.append(data)
                size += len(data)
            elif connection.complete:
                break
            else:
                await self._more(connection)
        if connection.complete and not connection.buffered:
            self.release()
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def stream(self, chunk: int) -> AsyncIterator[bytes]:
        connection = self._open_connection()
        while True:
            data = connection.take(chunk)
            if data:
                yield data
            elif connection.complete:
                break
            else:
                await self._more(connection)
        self.release()

    async def _more(self, connection: UpstreamConnection) -> None:
        try:
            await connection.wait(connection.loop.time() + self._timeout)
        except TimeoutError as exc:
            self.close()
            raise AnswerTimedOut(f"no data in {self._timeout} s") from exc
        except (OSError, ValueError) as exc:
            self.close()
            raise AnswerBroken(type(exc).__name__) from exc

    def _open_connection(self) -> UpstreamConnection:
        if self._connection is None:
            raise AnswerBroken("connection closed")
        return self._connection

    def release(self) -> None:
        """Back to the pool when the answer was read to its end and may be followed by
        another; otherwise the connection is closed."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if connection.complete and connection.keep_alive and not connection.buffered:
            self._pool.put(connection)
        else:
            connection.close()

    def close(self) -> None:
        """Give up on the rest of the answer: the connection cannot be reused."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


async def send(
    pool: LoopConnectionPool,
    method: str,
    target: str,
    headers: dict[str, str],
    read_timeout: float,
) -> LoopAnswer:
    """Send one request without a body on a pooled connection and read the answer's head
    (and a small body with it).

    Raises ConnectFailed, ConnectTimedOut, AnswerTimedOut, or AnswerBroken (with
    `reused` set when a kept-alive connection failed before the answer was read).
    """
    connection, reused = await pool.get()
    lines = [f"{method} {target} HTTP/1.1", f"Host: {pool.host_header}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if not any(name.lower() == "accept-encoding" for name in headers):
        lines.append("Accept-Encoding: identity")  # as http.client sends it: the same request
    deadline = connection.loop.time() + read_timeout  # for the head and a small body
    try:
        connection.start(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), method == "HEAD")
        while not connection.head_ready:
            await connection.wait(deadline)
    except TimeoutError as exc:
        connection.close()
        raise AnswerTimedOut(f"no answer in {read_timeout} s") from exc
    except (OSError, ValueError) as exc:
        connection.close()
        raise AnswerBroken(type(exc).__name__, reused) from exc
    except BaseException:
        connection.close()
        raise
    return LoopAnswer(connection, pool, read_timeout)
