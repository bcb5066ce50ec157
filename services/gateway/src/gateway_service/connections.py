"""Kept-alive connections to one upstream, over the standard library's http.client.

urllib3 (and requests above it) wrap http.client. For the gateway's one pattern (send a
request, read the answer whole or stream it, put the connection back) that wrapping cost
about as much CPU as the call itself: about 450 µs a call through urllib3 against 220 µs
through http.client, measured in process against the content service. So the pool holds
http.client connections directly; http.client still does all of HTTP/1.1's parsing and
framing (lengths, chunks, HEAD, 100-continue, close-delimited answers).

A connection goes back to the pool only after its answer was read to the end and the
upstream did not ask to close it, so an answer can never be read by the next request.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import ssl
import threading
from collections.abc import Iterator
from typing import Any


class ConnectFailed(Exception):
    """No connection could be opened (refused, unreachable, name unknown)."""


class ConnectTimedOut(Exception):
    """Opening a connection took longer than the connect timeout."""


class AnswerTimedOut(Exception):
    """The upstream stopped sending for longer than the read timeout."""


class AnswerBroken(Exception):
    """The connection broke, or the answer was not HTTP, before it was complete.

    `reused`: it happened on a kept-alive connection before any answer came, the way a
    connection the upstream closed while it sat idle fails.
    """

    def __init__(self, reason: str, reused: bool = False) -> None:
        super().__init__(reason)
        self.reused = reused


def _is_dropped(conn: http.client.HTTPConnection) -> bool:
    """An idle kept-alive connection that is readable was closed by the upstream (or holds
    bytes nobody asked for): never reuse it."""
    if conn.sock is None:
        return True
    poller = select.poll()
    poller.register(conn.sock, select.POLLIN)
    return bool(poller.poll(0))


class ConnectionPool:
    """A thread-safe LIFO of idle connections to one host; beyond `maxsize` idle ones, extra
    connections are opened for a burst and closed after it rather than waited for."""

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int | None,
        connect_timeout: float,
        maxsize: int,
    ) -> None:
        self.scheme, self.host, self.port = scheme, host, port
        self.connect_timeout = connect_timeout
        self.maxsize = maxsize
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._tls = ssl.create_default_context() if scheme == "https" else None

    def get(self) -> tuple[http.client.HTTPConnection, bool]:
        """A connection, and whether it was reused (a reused one may have gone stale)."""
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._open(), False
            if not _is_dropped(conn):
                return conn, True
            conn.close()

    def put(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self.maxsize:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _open(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        if self._tls is not None:
            conn = http.client.HTTPSConnection(
                self.host, self.port, timeout=self.connect_timeout, context=self._tls
            )
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.connect_timeout)
        try:
            conn.connect()
        except TimeoutError as exc:  # socket.timeout
            conn.close()
            raise ConnectTimedOut(str(exc)) from exc
        except OSError as exc:
            conn.close()
            raise ConnectFailed(type(exc).__name__) from exc
        if conn.sock is not None:
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn


class Answer:
    """An upstream's answer: status and headers at once, the body read or streamed after."""

    def __init__(
        self,
        response: http.client.HTTPResponse,
        conn: http.client.HTTPConnection,
        pool: ConnectionPool,
    ) -> None:
        self._response = response
        self._conn: http.client.HTTPConnection | None = conn
        self._pool = pool
        self.status = response.status
        self.reason = response.reason
        self.headers = response.msg  # case-insensitive get(), items() in order sent
        self._data: bytes | None = None

    def read(self, amount: int | None = None) -> bytes:
        """The body (up to `amount` bytes); the connection is released once it is all read."""
        try:
            data = self._response.read(amount)
        except TimeoutError as exc:
            self.close()
            raise AnswerTimedOut(str(exc)) from exc
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise AnswerBroken(type(exc).__name__) from exc
        if self._response.isclosed():
            self.release()
        return data

    def stream(self, chunk: int) -> Iterator[bytes]:
        while data := self.read(chunk):
            yield data

    @property
    def data(self) -> bytes:
        """The whole body, read once and kept."""
        if self._data is None:
            self._data = self.read()
        return self._data

    def json(self) -> Any:
        return json.loads(self.data)

    def release(self) -> None:
        """Back to the pool when the answer was read to its end and may be followed by
        another; otherwise the connection is closed."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._response.isclosed() and not self._response.will_close:
            self._pool.put(conn)
        else:
            conn.close()

    def close(self) -> None:
        """Give up on the rest of the answer: the connection cannot be reused."""
        conn, self._conn = self._conn, None
        self._response.close()
        if conn is not None:
            conn.close()


def send(
    pool: ConnectionPool,
    method: str,
    path: str,
    headers: dict[str, str],
    body: Any,
    read_timeout: float,
) -> Answer:
    """Send one request on a pooled connection and read the answer's head.

    Raises ConnectFailed, ConnectTimedOut, AnswerTimedOut, or AnswerBroken (with
    `reused` set when a kept-alive connection had gone stale, which is safe to retry).
    """
    conn, reused = pool.get()
    try:
        if conn.sock is not None:
            conn.sock.settimeout(read_timeout)
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
    except TimeoutError as exc:
        conn.close()
        raise AnswerTimedOut(str(exc)) from exc
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        raise AnswerBroken(type(exc).__name__, reused) from exc
    except BaseException:  # e.g. the client's own body broke off while it was being sent
        conn.close()
        raise
    return Answer(response, conn, pool)
