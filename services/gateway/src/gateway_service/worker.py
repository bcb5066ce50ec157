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
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

from gateway_service.edge import Edge
from shared.logs import write_per_loop_turn
from shared.problems import PROBLEM_MIMETYPE, problem_body


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
    """uvicorn's HTTP protocol, with coalesced writes and requests it cannot parse
    refused in problem+json."""

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
