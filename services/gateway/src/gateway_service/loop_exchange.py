"""A plain read served on the gateway worker's own HTTP protocol, without ASGI in between.

uvicorn's request cycle (a scope per request, an ASGI message per part, two regular
expressions on every header, an event to wait on) is the largest piece of the gateway's own
CPU left per request. A bodiless GET or HEAD the edge can plan is served by a LoopExchange
instead: the edge's checks and upstream call (Edge.respond), then the answer written as
bytes.

The exchange stands in the protocol's place of uvicorn's RequestResponseCycle, so uvicorn's
connection handling stays in charge of everything around it: pipelined requests queue
behind it, the keep-alive timer, flow control, a lost connection, and graceful shutdown
(which turns keep_alive off while it runs). When the edge finds the request is not plain
(a revoked token, a limit reached, Redis away), the exchange hands it to a uvicorn cycle on
the thread path, made then as uvicorn would have made it from the start.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, RequestResponseCycle

from gateway_service.edge import Edge, EdgeReply
from gateway_service.fast_path import Plan

if TYPE_CHECKING:
    from gateway_service.worker import EdgeHttpProtocol

log = logging.getLogger(__name__)

# Control characters an answer's header block may not carry (CR and LF are counted apart:
# exactly one of each per line).
_UNSAFE_IN_HEADERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NO_BODY_STATUSES = frozenset({204, 304})
_LAST_CHUNK = b"0\r\n\r\n"
_UNTIL_CLOSED = -1  # a body delimited by closing the connection


class _Unwaited:
    """The message event of an exchange: nobody waits on it, the request is whole (it has
    no body) before the exchange runs."""

    __slots__ = ()

    def set(self) -> None:
        return None


_UNWAITED = _Unwaited()


class BrokenAnswer(Exception):
    """The answer cannot be written as given (unsafe header, body not its declared length)."""


class LoopExchange:
    """One planned request and its answer, in the protocol's place of uvicorn's cycle."""

    def __init__(
        self,
        protocol: EdgeHttpProtocol,
        edge: Edge,
        plan: Plan,
        environ: dict[str, Any],
        headers: list[tuple[str, str]],
        target: tuple[bytes, bytes],
        keep_alive: bool,
    ) -> None:
        self._protocol = protocol
        self._edge = edge
        self._scope = protocol.scope  # the protocol makes a new one for the next request
        self._target = target  # the raw path and query, for a hand-over's scope
        self._plan = plan
        self._environ = environ
        self._headers = headers
        self._keep_alive = keep_alive
        self._disconnected = False
        self._complete = False
        self._fallback: RequestResponseCycle | None = None
        # Set by the protocol's parser callbacks; the request has no body to give.
        self.more_body = True
        self.body = b""

    # -- what uvicorn's protocol reads and sets on its current cycle ------------------------

    @property
    def response_complete(self) -> bool:
        fallback = self._fallback
        return fallback.response_complete if fallback is not None else self._complete

    @property
    def disconnected(self) -> bool:
        return self._disconnected

    @disconnected.setter
    def disconnected(self, value: bool) -> None:
        self._disconnected = value
        if self._fallback is not None:
            self._fallback.disconnected = value

    @property
    def keep_alive(self) -> bool:
        return self._keep_alive

    @keep_alive.setter
    def keep_alive(self, value: bool) -> None:  # graceful shutdown: close after this answer
        self._keep_alive = value
        if self._fallback is not None:
            self._fallback.keep_alive = value

    @property
    def message_event(self) -> asyncio.Event | _Unwaited:
        fallback = self._fallback
        return fallback.message_event if fallback is not None else _UNWAITED

    # -- serving --------------------------------------------------------------------------

    async def run_asgi(self, app: Any) -> None:
        """Serve the request (the name the protocol starts a cycle by; `app` is unused: the
        exchange answers with the edge, or hands over to its thread path)."""
        edge = self._edge
        try:
            reply = await edge.respond(self._plan, self._environ, self._headers)
        except Exception as exc:  # respond() answers its own faults; this is a last resort
            log.exception("no answer made: %s", type(exc).__name__)
            self._protocol.transport.close()
            self._finish()
            return
        if reply is None:
            await self._hand_over(edge.in_threads)
            return
        try:
            await self._write(reply)
        except Exception as exc:
            log.exception("answer not written whole: %s", type(exc).__name__)
            self._protocol.transport.close()
        finally:
            reply.served()
            self._finish()

    async def _write(self, reply: EdgeReply) -> None:
        protocol = self._protocol
        transport = protocol.transport
        head_only = self._environ["REQUEST_METHOD"] == "HEAD" or reply.status in _NO_BODY_STATUSES
        head, declared = self._head(reply, head_only)
        body = reply.body
        if not isinstance(body, AsyncIterator):
            data = b"".join(body)
            if head_only:
                parts: tuple[bytes, ...] = (head,)
            elif declared is None:
                parts = (head, *_chunk(data), _LAST_CHUNK)
            else:
                parts = (head, data)
                _check_length(len(data), declared)
            if not self._disconnected:
                transport.writelines(parts)
            return
        if not self._disconnected:
            transport.writelines((head,))
        sent = 0
        flow = protocol.flow
        async for chunk in body:  # read to its end even when the client is gone
            if head_only or self._disconnected or not chunk:
                continue
            if flow.write_paused:
                await flow.drain()
            sent += len(chunk)
            transport.writelines(_chunk(chunk) if declared is None else (chunk,))
        if head_only:
            return
        if declared is None:
            if not self._disconnected:
                transport.writelines((_LAST_CHUNK,))
        else:
            _check_length(sent, declared)

    def _head(self, reply: EdgeReply, head_only: bool) -> tuple[bytes, int | None]:
        """The status line and header block, and the body's declared length (None: the
        body goes chunked)."""
        declared: int | None = None
        lines = []
        for name, value in reply.headers:
            lower = name.lower()
            if lower == "content-length":
                declared = int(value)
            elif lower == "connection" and "close" in value.lower():
                self.keep_alive = False
            lines.append(f"{name}: {value}\r\n")
        if declared is None and not head_only:
            if self._scope["http_version"] == "1.1":
                lines.append("Transfer-Encoding: chunked\r\n")
            else:  # HTTP/1.0 has no chunks: the body ends with the connection
                self.keep_alive = False
                declared = _UNTIL_CLOSED
        if not self._keep_alive:
            lines.append("Connection: close\r\n")
        block = "".join(lines)
        if (
            _UNSAFE_IN_HEADERS.search(block)
            or block.count("\r") != len(lines)
            or block.count("\n") != len(lines)
        ):
            raise BrokenAnswer("unsafe characters in the answer's headers")
        server_headers = b"".join(
            b"%s: %s\r\n" % pair for pair in self._protocol.server_state.default_headers
        )
        head = STATUS_LINE[reply.status] + server_headers + block.encode("latin-1") + b"\r\n"
        return head, declared

    def _finish(self) -> None:
        self._complete = True
        protocol = self._protocol
        if not self._keep_alive:
            protocol.transport.close()
        protocol.on_response_complete()  # the next pipelined request, or the keep-alive timer

    async def _hand_over(self, app: Any) -> None:
        """Serve the request on the thread path, in the uvicorn cycle it would have had."""
        protocol = self._protocol
        scope = self._scope
        raw_path, query = self._target
        scope["path"] = unquote(raw_path.decode("latin-1"))
        scope["raw_path"], scope["query_string"] = raw_path, query
        whole = asyncio.Event()
        whole.set()  # the request has no body: its one message is ready
        cycle = RequestResponseCycle(
            scope=scope,
            transport=protocol.transport,
            flow=protocol.flow,
            logger=protocol.logger,
            access_logger=protocol.access_logger,
            access_log=protocol.access_log,
            default_headers=protocol.server_state.default_headers,
            message_event=whole,
            expect_100_continue=False,
            keep_alive=self._keep_alive,
            on_response=protocol.on_response_complete,
        )
        cycle.more_body = False
        cycle.disconnected = self._disconnected
        self._fallback = cycle
        await cycle.run_asgi(app)


def _chunk(data: bytes) -> tuple[bytes, ...]:
    return (b"%x\r\n" % len(data), data, b"\r\n") if data else ()


def _check_length(sent: int, declared: int) -> None:
    if declared != _UNTIL_CLOSED and sent != declared:
        raise BrokenAnswer(f"a body of {sent} bytes declared as {declared}")
