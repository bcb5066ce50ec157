"""The gateway's gunicorn worker: one event loop per process serving gateway_service.edge.

    GUNICORN_WORKER_CLASS=gateway_service.worker.EdgeWorker \
        gunicorn --config deploy/gunicorn.conf.py "gateway_service:create_app()"

The app gunicorn loads is still the Flask app; the worker puts the edge in front of it, with
GUNICORN_THREADS threads for the requests the loop hands over. uvicorn (uvloop, httptools)
parses HTTP. Kept as gunicorn sets it: the bind, workers, keep-alive, graceful timeout and
the heartbeat. Set here: no access log (the gateway writes its own), no Server header, no
trust in X-Forwarded-* from uvicorn (the gateway decides who is trusted, see forwarding.py),
and malformed requests refused in problem+json like every other error.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from typing import Any

from flask import Flask
from gunicorn.arbiter import Arbiter
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

from gateway_service.edge import LOOP_METHODS, Edge, path_info, request_environ
from gateway_service.loop_exchange import LoopExchange
from shared.logs import write_per_loop_turn
from shared.problems import PROBLEM_MIMETYPE, problem_body

LOOP_METHODS_BYTES = frozenset(method.encode() for method in LOOP_METHODS)  # as parsed


class CoalescedWrites:
    """A connection's transport that sends an answer's head together with its body.

    uvicorn writes an answer's head and its body separately; on loopback and virtual
    machines each write is a wake-up of the client and a trip through the network stack,
    so the gateway's answers would cost one more than they need. A write is held until the
    next one joins it (the head waits for the body) or until the loop finishes its current
    turn, and always before the connection closes. The pair leaves at once: holding answers
    to the end of the turn, behind every other request the turn runs, measured slower.
    """

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is None:
            self._held = data
            self._loop.call_soon(self._flush)  # if no second write comes in this turn
            return
        self._held = None
        if not self._transport.is_closing():
            self._transport.writelines((held, data))

    def writelines(self, parts: tuple[bytes, ...]) -> None:
        """Parts that leave together now, after anything held (the loop's own answers,
        whose head and body are at hand together)."""
        held, self._held = self._held, None
        if not self._transport.is_closing():
            self._transport.writelines(parts if held is None else (held, *parts))

    def _flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:  # everything else is the transport's own
        return getattr(self._transport, name)


class EdgeHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol, with coalesced writes, requests it cannot parse refused in
    problem+json, and the edge's plain reads served by a LoopExchange instead of an ASGI
    cycle (see gateway_service.loop_exchange)."""

    def __init__(self, config: Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        edge = config.app
        self.edge: Edge | None = edge if isinstance(edge, Edge) else None

    def on_headers_complete(self) -> None:
        exchange = self._loop_exchange()
        if exchange is None:
            super().on_headers_complete()
            return
        # As uvicorn starts or queues a cycle.
        existing, self.cycle = self.cycle, exchange  # type: ignore[assignment]
        if existing is None or existing.response_complete:
            self._start_asgi_task(exchange, self.app)  # type: ignore[arg-type]
        else:
            self.flow.pause_reading()
            self.pipeline.appendleft((exchange, self.app))  # type: ignore[arg-type]

    def _loop_exchange(self) -> LoopExchange | None:
        """An exchange for a request the edge plans, None when uvicorn's cycle takes it:
        another method, a body, an upgrade, an Expect, a URL not in origin form, a
        concurrency limit to apply, or a request the edge does not plan."""
        edge, parser, url = self.edge, self.parser, self.url
        method = parser.get_method()
        if (
            edge is None
            or method not in LOOP_METHODS_BYTES
            or self.expect_100_continue
            or parser.should_upgrade()
            or self.limit_concurrency is not None
            or not url.startswith(b"/")
            or b"#" in url
        ):
            return None
        scope, http_version = self.scope, parser.get_http_version()
        scope["method"] = method.decode("ascii")
        scope["http_version"] = http_version
        raw_path, _, query = url.partition(b"?")
        environ, headers = request_environ(
            scope["method"],
            path_info(raw_path),
            query,
            self.headers,
            scope,  # type: ignore[arg-type]
        )
        plan = edge.plan(environ)
        if plan is None:
            return None
        keep_alive = http_version != "1.0" and parser.should_keep_alive()
        return LoopExchange(self, edge, plan, environ, headers, (raw_path, query), keep_alive)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescedWrites(transport))  # type: ignore[arg-type]

    def send_400_response(self, msg: str) -> None:
        request_id = uuid.uuid4().hex
        body = json.dumps(problem_body(400, msg, request_id=request_id)).encode()
        head = (
            "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n"
            f"Content-Type: {PROBLEM_MIMETYPE}\r\nContent-Length: {len(body)}\r\n"
            f"X-Request-ID: {request_id}\r\n\r\n"
        )
        self.transport.write(head.encode("latin-1") + body)
        self.transport.close()


class EdgeWorker(UvicornWorker):
    CONFIG_KWARGS: dict[str, Any] = {
        "loop": "uvloop",
        "http": EdgeHttpProtocol,
        "interface": "asgi3",
        "lifespan": "on",
        "proxy_headers": False,
        "access_log": False,
        "server_header": False,
    }

    server: Server | None = None

    async def _serve(self) -> None:  # uvicorn_worker's, keeping the server for the signals
        self.config.app = self.wsgi
        write_per_loop_turn(asyncio.get_running_loop())
        self.server = Server(config=self.config)
        self._install_sigquit_handler()
        await self.server.serve(sockets=self.sockets)
        if not self.server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)

    def handle_exit(self, sig: int, frame: Any) -> None:
        """SIGQUIT, the master's quick shutdown (SIGINT): stop now, in-flight requests or
        not. (uvicorn_worker only marks the worker as not alive, which nothing reads, so
        the worker outlived its master.) SIGTERM stays uvicorn's graceful shutdown."""
        self.alive = False
        if self.server is not None:
            self.server.should_exit = self.server.force_exit = True

    async def callback_notify(self) -> None:
        """The heartbeat; and, as gunicorn's own workers do, exit when the master is gone."""
        if os.getppid() != self.ppid and self.server is not None:
            self.log.info("master %s is gone; worker %s exiting", self.ppid, self.pid)
            self.server.should_exit = True
        self.notify()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        # The Flask app of gunicorn's app spec.
        app: Flask = self.wsgi  # type: ignore[has-type]
        self.wsgi = Edge(app, threads=self.cfg.threads)
