"""The gateway's gunicorn worker: uvicorn (uvloop, httptools) serving the edge.

    GUNICORN_WORKER_CLASS=gateway_service.worker.EdgeWorker \
        gunicorn --config deploy/gunicorn.conf.py "gateway_service:create_app()"

The app gunicorn loads is the Flask app of the gateway's own pages; the worker serves it
behind the edge (gateway_service.edge), the one path of every request. Kept as gunicorn
sets it: the bind, workers, keep-alive, graceful timeout and the heartbeat. Set here: no
access log (the edge writes its own), no Server header, no trust in X-Forwarded-* from
uvicorn (the edge decides who is trusted), no WebSocket, and the request head bounded.

uvicorn's HTTP protocol buffers a request's head without limit. HeadGate sits in front of
it and reads every byte first with a parser of its own (httptools, the same parser and
settings as uvicorn's): a target over MAX_TARGET_BYTES is refused with 414, a head over
MAX_HEAD_BYTES with 431, bytes that do not parse with 400, each as problem+json, and the
connection closed, before uvicorn has buffered more than the limit.

uvicorn writes an answer's head and body in two sends (two segments, with TCP_NODELAY, that
each wake the client); HeadGate hands it JoinedWrites, which sends the writes of one step of
the loop (the edge sends head and body back to back) as one piece at the end of that step.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from typing import TYPE_CHECKING, Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker

# The Flask-free halves of both: gunicorn's master imports this module and never loads Flask.
from shared.problem_documents import PROBLEM_MIMETYPE, problem_body
from shared.request_ids import accept_or_mint

if TYPE_CHECKING:
    from flask import Flask

REASONS = {400: "Bad Request", 414: "URI Too Long", 431: "Request Header Fields Too Large"}


class _Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class JoinedWrites:
    """uvicorn's transport: its writes in one step of the loop leave in one send, in order;
    close() sends what waits first, a large piece goes at once (see the module)."""

    FLUSH_AT = 64 * 1024

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._waiting: list[bytes] = []

    def __getattr__(self, name: str) -> Any:  # the rest of the transport, as it is
        return getattr(self._transport, name)

    def write(self, data: bytes) -> None:
        if not self._waiting:
            asyncio.get_running_loop().call_soon(self._send)
        self._waiting.append(data)
        if len(data) >= self.FLUSH_AT:
            self._send()

    def _send(self) -> None:
        if self._waiting and not self._transport.is_closing():
            self._transport.write(b"".join(self._waiting))
        self._waiting = []

    def close(self) -> None:
        self._send()
        self._transport.close()


class HeadGate(asyncio.Protocol):
    """uvicorn's HTTP protocol behind a check of each request's head (see the module)."""

    def __init__(self, config: Config, **kwargs: Any) -> None:
        self.inner = HttpToolsProtocol(config, **kwargs)
        settings = getattr(config.app, "config", {})  # the edge's settings
        self.max_target = int(settings.get("MAX_TARGET_BYTES", 8 * 1024))
        self.max_head = int(settings.get("MAX_HEAD_BYTES", 32 * 1024))
        self.parser = httptools.HttpRequestParser(self)
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)  # as uvicorn's
        self.transport: JoinedWrites | None = None
        self.in_head = False
        self.head_bytes = 0
        self.target = b""
        self.passing = False  # an upgrade: uvicorn answers it, the gate has no more to say
        self.closed = False

    # -- the parser's callbacks --------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.in_head, self.head_bytes, self.target = True, 0, b""

    def on_url(self, part: bytes) -> None:
        self.target += part
        if len(self.target) > self.max_target:
            raise _Refused(414, f"The request target is longer than {self.max_target} bytes.")

    def on_headers_complete(self) -> None:
        self.in_head = False

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = JoinedWrites(transport)  # type: ignore[arg-type]
        self.inner.connection_made(self.transport)  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        if not self.passing:
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserUpgrade:
                self.passing = True
            except httptools.HttpParserCallbackError as exc:
                refusal = exc.__context__ or exc.__cause__
                if isinstance(refusal, _Refused):
                    return self.refuse(refusal.status, refusal.detail)
                raise
            except httptools.HttpParserError:
                return self.refuse(400, "The request is not valid HTTP/1.1.")
            if self.in_head:
                self.head_bytes += len(data)
                if self.head_bytes > self.max_head:
                    return self.refuse(
                        431, f"The request head is larger than {self.max_head} bytes."
                    )
        self.inner.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.inner.connection_lost(exc)

    def eof_received(self) -> None:
        self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def refuse(self, status: int, detail: str) -> None:
        """Answer problem+json and close: nothing of this request reaches the edge."""
        self.closed = True
        request_id = accept_or_mint(None)
        path = httptools.parse_url(self.target).path if status == 431 and self.target else None
        instance = path.decode("latin-1") if path else f"urn:uuid:{uuid.UUID(request_id)}"
        body = json.dumps(
            problem_body(status, detail, instance=instance, request_id=request_id)
        ).encode()
        head = (
            f"HTTP/1.1 {status} {REASONS[status]}\r\nConnection: close\r\n"
            f"Content-Type: {PROBLEM_MIMETYPE}\r\nContent-Length: {len(body)}\r\n"
            f"X-Request-ID: {request_id}\r\n\r\n"
        )
        if self.transport is not None:
            self.transport.write(head.encode("latin-1") + body)
            self.transport.close()


class EdgeWorker(UvicornWorker):
    CONFIG_KWARGS: dict[str, Any] = {
        "loop": "uvloop",
        "http": HeadGate,
        "ws": "none",
        "interface": "asgi3",
        "lifespan": "on",
        "proxy_headers": False,
        "access_log": False,
        "server_header": False,
    }

    def load_wsgi(self) -> None:
        # Here, in the worker: the master imports this module only for the class.
        from gateway_service.edge import Edge

        super().load_wsgi()
        app: Flask = self.wsgi  # type: ignore[has-type]  # the Flask app of gunicorn's app spec
        self.wsgi = Edge(app, threads=self.cfg.threads)

    def handle_exit(self, sig: int, frame: Any) -> None:
        """SIGQUIT, the master's quick shutdown (SIGINT): stop now, in-flight requests or
        not. (uvicorn_worker only marks the worker as not alive, which nothing reads, so
        the worker outlived its master.) SIGTERM stays uvicorn's graceful shutdown."""
        self.alive = False
        sys.stdout.flush()
        os._exit(0)

    async def callback_notify(self) -> None:
        """The heartbeat; and, as gunicorn's own workers do, leave when the master is gone
        (SIGTERM: uvicorn's graceful shutdown)."""
        if os.getppid() != self.ppid:
            self.log.info("master %s is gone; worker %s exiting", self.ppid, self.pid)
            os.kill(os.getpid(), signal.SIGTERM)
        self.notify()
