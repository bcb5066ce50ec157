"""Kept-alive connections to one upstream for the event loop (gateway_service.edge).

The counterpart of gateway_service.connections for code running on asyncio: the same
exceptions, the same reuse rule (a connection goes back to the pool only after its answer
was read to the end and the upstream did not ask to close it) and the same framing
(lengths, chunks, HEAD and bodiless statuses, interim 1xx answers skipped,
close-delimited answers). Only requests without a body are sent: the edge hands every
request with a body to the Flask app.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

from gateway_service.connections import AnswerBroken, AnswerTimedOut, ConnectFailed, ConnectTimedOut

# An answer's status line and headers together may not be longer than this.
MAX_HEAD_BYTES = 64 * 1024
# A body up to this size is read with its head, in one go (most API answers).
PREFETCH_BYTES = 64 * 1024
_NO_BODY_STATUSES = frozenset({204, 304})

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


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
        self._idle: list[Connection] = []
        self._tls = ssl.create_default_context() if scheme == "https" else None

    async def get(self) -> tuple[Connection, bool]:
        """A connection, and whether it was reused."""
        while self._idle:
            reader, writer = self._idle.pop()
            # The loop has already read the FIN of a connection the upstream closed.
            if not (reader.at_eof() or writer.is_closing()):
                return (reader, writer), True
            writer.close()
        return await self._open(), False

    def put(self, connection: Connection) -> None:
        if len(self._idle) < self.maxsize:
            self._idle.append(connection)
        else:
            connection[1].close()

    def close(self) -> None:
        idle, self._idle = self._idle, []
        for _, writer in idle:
            writer.close()

    async def _open(self) -> Connection:
        try:
            async with asyncio.timeout(self.connect_timeout):
                return await asyncio.open_connection(
                    self.host, self.port, ssl=self._tls, limit=MAX_HEAD_BYTES
                )
        except TimeoutError as exc:
            raise ConnectTimedOut(f"no connection in {self.connect_timeout} s") from exc
        except OSError as exc:
            raise ConnectFailed(type(exc).__name__) from exc


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


class LoopAnswer:
    """An upstream's answer: status and headers at once, the body read or streamed after."""

    def __init__(
        self,
        status: int,
        reason: str,
        headers: AnswerHeaders,
        connection: Connection,
        pool: LoopConnectionPool,
        read_timeout: float,
        bodiless: bool,
        keep_alive: bool,
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers  # case-insensitive get(), items() in order sent
        self._connection: Connection | None = connection
        self._pool = pool
        self._timeout = read_timeout
        self._keep_alive = keep_alive
        self._chunked = "chunked" in (headers.get("Transfer-Encoding") or "").lower()
        length = headers.get("Content-Length") or ""
        self._left: int | None  # bytes of the body still to come; None: until chunk 0 or EOF
        if bodiless:
            self._left = 0
        elif self._chunked:
            self._left = None
        elif length.isdigit():
            self._left = int(length)
        else:  # delimited by the connection's close
            self._left, self._keep_alive = None, False
        self._chunk_left = 0
        self._done = self._left == 0
        self._prefetched = b""

    async def prefetch(self, reader: asyncio.StreamReader) -> None:
        """Read a small body of announced length now (read() then returns it at once)."""
        if self._left and not self._chunked and self._left <= PREFETCH_BYTES:
            self._prefetched = await reader.readexactly(self._left)
            self._left, self._done = 0, True

    async def read(self, amount: int | None = None) -> bytes:
        """The body (up to `amount` bytes); the connection is released once it is all read."""
        if amount is not None and len(self._prefetched) > amount:
            data, self._prefetched = self._prefetched[:amount], self._prefetched[amount:]
            return data
        parts, size = [self._prefetched], len(self._prefetched)
        self._prefetched = b""
        while not self._done and (amount is None or size < amount):
            part = await self._next(None if amount is None else amount - size)
            parts.append(part)
            size += len(part)
        if self._done:
            self.release()
        return b"".join(parts)

    async def stream(self, chunk: int) -> AsyncIterator[bytes]:
        if self._prefetched:
            yield await self.read()
        while not self._done:
            data = await self._next(chunk)
            if data:
                yield data
        self.release()

    async def _next(self, amount: int | None) -> bytes:
        if self._connection is None:
            raise AnswerBroken("connection closed")
        reader = self._connection[0]
        try:
            async with asyncio.timeout(self._timeout):
                return await self._read_from(reader, amount or 64 * 1024)
        except TimeoutError as exc:
            self.close()
            raise AnswerTimedOut(f"no data in {self._timeout} s") from exc
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            self.close()
            raise AnswerBroken(type(exc).__name__) from exc

    async def _read_from(self, reader: asyncio.StreamReader, amount: int) -> bytes:
        if self._chunked:
            if self._chunk_left == 0:
                size_line = await reader.readuntil(b"\r\n")
                self._chunk_left = int(size_line.split(b";", 1)[0].strip(), 16)
                if self._chunk_left == 0:
                    while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, if any
                        pass
                    self._done = True
                    return b""
            data = await reader.readexactly(min(amount, self._chunk_left))
            self._chunk_left -= len(data)
            if self._chunk_left == 0 and await reader.readexactly(2) != b"\r\n":
                raise ValueError("chunk not followed by CRLF")
            return data
        if self._left is None:  # until the upstream closes
            data = await reader.read(amount)
            self._done = not data
            return data
        data = await reader.readexactly(min(amount, self._left))
        self._left -= len(data)
        self._done = self._left == 0
        return data

    def release(self) -> None:
        """Back to the pool when the answer was read to its end and may be followed by
        another; otherwise the connection is closed."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if self._done and self._keep_alive:
            self._pool.put(connection)
        else:
            connection[1].close()

    def close(self) -> None:
        """Give up on the rest of the answer: the connection cannot be reused."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection[1].close()


async def send(
    pool: LoopConnectionPool,
    method: str,
    target: str,
    headers: dict[str, str],
    read_timeout: float,
) -> LoopAnswer:
    """Send one request without a body on a pooled connection and read the answer's head.

    Raises ConnectFailed, ConnectTimedOut, AnswerTimedOut, or AnswerBroken (with
    `reused` set when a kept-alive connection failed before any answer came).
    """
    connection, reused = await pool.get()
    reader, writer = connection
    lines = [f"{method} {target} HTTP/1.1", f"Host: {_host_header(pool)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if not any(name.lower() == "accept-encoding" for name in headers):
        lines.append("Accept-Encoding: identity")  # as http.client sends it: the same request
    try:
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        async with asyncio.timeout(read_timeout):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                status, reason, version, answer_headers = _parse_head(head)
                if not 100 <= status < 200:
                    break  # 100 Continue, 103 Early Hints: the real answer follows
            connection_tokens = (answer_headers.get("Connection") or "").lower()
            keep_alive = (
                "keep-alive" in connection_tokens
                if version == "HTTP/1.0"
                else "close" not in connection_tokens
            )
            bodiless = method == "HEAD" or status in _NO_BODY_STATUSES
            answer = LoopAnswer(
                status, reason, answer_headers, connection, pool, read_timeout, bodiless, keep_alive
            )
            await answer.prefetch(reader)  # under the same timeout as the head
    except TimeoutError as exc:
        writer.close()
        raise AnswerTimedOut(f"no answer in {read_timeout} s") from exc
    except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        writer.close()
        raise AnswerBroken(type(exc).__name__, reused) from exc
    except BaseException:
        writer.close()
        raise
    return answer


def _host_header(pool: LoopConnectionPool) -> str:
    default = 443 if pool._tls is not None else 80
    return pool.host if pool.port == default else f"{pool.host}:{pool.port}"


def _parse_head(head: bytes) -> tuple[int, str, str, AnswerHeaders]:
    """Status, reason, HTTP version and headers of an answer's head; ValueError if not HTTP."""
    status_line, *lines = head[:-4].decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise ValueError("not an HTTP/1.x answer")
    headers = []
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise ValueError("malformed header line")
        headers.append((name, value.strip()))
    return int(code), reason, version, AnswerHeaders(headers)
