"""The gateway worker's HTTP protocol: the loop path's answers written by a LoopExchange,
with uvicorn's connection handling around them (pipelining, keep-alive, HTTP/1.0,
graceful shutdown, a client gone), read back with h11 over real sockets."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from typing import Any

import h11
import pytest
from a2wsgi.wsgi import build_environ
from conftest import Scripted, ServedEdgeClient, read_answer
from werkzeug.wrappers import Response

from gateway_service.edge import _as_gunicorn_builds, path_info, request_environ


def request_bytes(method: str, target: str, headers: dict[str, str], version: str = "1.1") -> bytes:
    lines = [f"{method} {target} HTTP/{version}", "Host: gateway.test"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def read_answers(
    reader: asyncio.StreamReader, methods: list[str]
) -> list[tuple[int, dict[str, str], bytes]]:
    """The answers to requests already sent, in order, parsed by h11 one cycle at a time."""
    parser = h11.Connection(h11.CLIENT)
    answers = []
    for method in methods:
        parser.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
        parser.send(h11.EndOfMessage())
        status, headers, parts = await read_answer(parser, reader)
        answers.append((status, dict(headers), b"".join(parts)))
        if parser.our_state is h11.MUST_CLOSE or parser.their_state is h11.MUST_CLOSE:
            break
        parser.start_next_cycle()
    return answers


def on_one_connection(
    client: ServedEdgeClient, data: bytes, methods: list[str]
) -> tuple[list[tuple[int, dict[str, str], bytes]], bool]:
    """Send `data` at once, read the answers to `methods`; and whether the gateway closed
    the connection after them."""

    async def go() -> tuple[list[tuple[int, dict[str, str], bytes]], bool]:
        reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
        writer.write(data)
        answers = await read_answers(reader, methods)
        try:
            closed = await asyncio.wait_for(reader.read(1), 0.5) == b""
        except TimeoutError:
            closed = False
        writer.close()
        return answers, closed

    return client.loop.run_until_complete(go())


@pytest.fixture
def alice(tokens: Any) -> dict[str, str]:
    return tokens.bearer(1, "alice")


def verified(client: ServedEdgeClient, bearer: dict[str, str]) -> ServedEdgeClient:
    """The token's first use is verified on the thread path; later ones stay on the loop."""
    assert not client.request("GET", "/api/items/0", bearer).on_loop
    return client


def test_pipelined_requests_are_answered_in_order(served_edge, upstream, alice):
    for n in (1, 2, 3):
        upstream.paths[f"/api/items/{n}"] = Scripted(200, b'{"id": %d}' % n)
    client = verified(served_edge(RATE_LIMIT="50/minute"), alice)
    before = len(client.handed_over)
    post = request_bytes("POST", "/api/items", {**alice, "Content-Length": "2"}) + b"{}"
    data = (
        request_bytes("GET", "/api/items/1", alice)
        + post
        + request_bytes("GET", "/api/items/2", alice)
        + request_bytes("HEAD", "/api/items/3", alice)
        + request_bytes("GET", "/api/items/3", alice)
    )

    answers, closed = on_one_connection(client, data, ["GET", "POST", "GET", "HEAD", "GET"])

    assert [status for status, _, _ in answers] == [200] * 5
    bodies = [body for _, _, body in answers]
    assert bodies == [b'{"id": 1}', b'{"ok": true}', b'{"id": 2}', b"", b'{"id": 3}']
    assert answers[3][1]["content-length"] == str(len(b'{"id": 3}'))  # HEAD: no body sent
    assert client.handed_over[before:] == ["/api/items"]  # only the POST left the loop
    assert [seen["method"] for seen in upstream.seen[1:]] == ["GET", "POST", "GET", "HEAD", "GET"]
    assert not closed


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_a_plain_answer_keeps_or_closes_the_connection_as_asked(served_edge, alice, version):
    client = verified(served_edge(), alice)
    keep = request_bytes("GET", "/api/items/1", alice, version)
    close = request_bytes("GET", "/api/items/1", {**alice, "Connection": "close"})

    (kept,), kept_closed = on_one_connection(client, keep, ["GET"])
    (closing,), closing_closed = on_one_connection(client, close, ["GET"])

    # HTTP/1.0 closes (as uvicorn does); HTTP/1.1 keeps the connection open.
    assert kept[0] == 200
    assert kept_closed is (version == "1.0")
    assert (kept[1].get("connection") == "close") is (version == "1.0")
    assert closing[0] == 200
    assert closing[1]["connection"] == "close"
    assert closing_closed


def streamed_answer(size: int) -> Any:
    """An upstream answer of `size` bytes sent in 64 KiB pieces with no length announced."""
    piece = bytes(range(256)) * 256

    def handler(request: Any) -> Response:
        return Response((piece for _ in range(size // len(piece))), 200, mimetype="text/plain")

    return handler


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_an_answer_of_unknown_length_is_chunked_or_ends_with_the_connection(
    served_edge, upstream, alice, version
):
    upstream.handler = streamed_answer(1 << 20)
    client = verified(served_edge(), alice)

    (answer,), closed = on_one_connection(
        client, request_bytes("GET", "/api/items/1", alice, version), ["GET"]
    )

    assert answer[0] == 200
    assert answer[2] == (bytes(range(256)) * 256) * 16
    if version == "1.1":
        assert answer[1]["transfer-encoding"] == "chunked"
        assert not closed
    else:  # no chunks in HTTP/1.0: the body ends with the connection
        assert "transfer-encoding" not in answer[1]
        assert closed


def test_a_large_answer_reaches_the_client_while_the_upstream_still_sends(
    served_edge, upstream, alice
):
    piece, pieces = bytes(range(256)) * 256, 6  # 64 KiB each, far above what is read whole
    rest_may_come = threading.Event()

    def handler(request: Any) -> Response:
        def body() -> Iterator[bytes]:
            yield piece * (pieces - 1)
            rest_may_come.wait(10)  # until the client has the first part
            yield piece

        length = {"Content-Length": str(len(piece) * pieces)}
        return Response(body(), 200, mimetype="application/octet-stream", headers=length)

    client = verified(served_edge(), alice)
    upstream.handler = handler

    async def go() -> tuple[bytes, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
        writer.write(request_bytes("GET", "/api/items/1", alice))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        first = await asyncio.wait_for(reader.readexactly(len(piece) * (pieces - 1)), 5)
        rest_may_come.set()
        last = await asyncio.wait_for(reader.readexactly(len(piece)), 5)
        writer.close()
        return head, first + last

    head, body = client.loop.run_until_complete(go())

    assert head.startswith(b"HTTP/1.1 200 ")
    assert body == piece * pieces


def test_graceful_shutdown_answers_the_request_in_flight_then_closes(served_edge, upstream, alice):
    upstream.paths["/api/items/1"] = Scripted(200, b'{"id": 1}', delay=0.5)
    client = verified(served_edge(), alice)

    async def go() -> tuple[list[tuple[int, dict[str, str], bytes]], bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
        writer.write(request_bytes("GET", "/api/items/1", alice))
        await asyncio.sleep(0.2)  # the exchange waits on the upstream
        client.server.should_exit = True
        shutdown = asyncio.ensure_future(client.server.shutdown())
        answers = await read_answers(reader, ["GET"])
        rest = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        await shutdown
        return answers, rest

    ((status, headers, body),), rest = client.loop.run_until_complete(go())

    assert (status, body) == (200, b'{"id": 1}')
    assert headers["connection"] == "close"
    assert rest == b""  # closed after the answer


def test_a_client_gone_before_its_answer_costs_nothing_else(served_edge, upstream, alice, caplog):
    upstream.paths["/api/items/1"] = Scripted(200, b'{"id": 1}', delay=0.3)
    client = verified(served_edge(), alice)

    async def leave_early() -> None:
        _, writer = await asyncio.open_connection("127.0.0.1", client.port)
        writer.write(request_bytes("GET", "/api/items/1", alice))
        await asyncio.sleep(0.1)
        writer.close()
        await asyncio.sleep(0.5)  # the upstream answers meanwhile; nobody is there

    with caplog.at_level(logging.INFO):
        client.loop.run_until_complete(leave_early())
        after = client.request("GET", "/api/items/1", alice)

    assert (after.status, after.on_loop) == (200, True)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    logged = [r.status for r in caplog.records if r.name == "access"]
    assert logged[-2:] == [200, 200]  # the abandoned request is logged as answered


def test_a_fault_in_the_edge_is_a_500_problem(served_edge, alice, monkeypatch, caplog):
    client = verified(served_edge(), alice)

    async def broken(*args: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(client.edge.counts.counter, "incr_and_read", broken)
    with caplog.at_level(logging.ERROR):
        answer = client.request("GET", "/api/items/1", {**alice, "Origin": "http://localhost:5173"})

    assert answer.status == 500
    assert answer.header("Content-Type") == "application/problem+json"
    assert answer.json()["request_id"] == answer.header("X-Request-ID")
    assert answer.header("Access-Control-Allow-Origin") == "http://localhost:5173"
    assert any("RuntimeError" in r.getMessage() for r in caplog.records)


def test_an_answer_with_a_header_that_would_split_it_is_never_written(
    served_edge, alice, monkeypatch, caplog
):
    client = verified(served_edge(), alice)
    edge_headers = client.edge.fast_path.edge_headers

    def splitting(*args: Any) -> list[tuple[str, str]]:
        return [*edge_headers(*args), ("X-Note", "a\r\nSet-Cookie: stolen=1")]

    monkeypatch.setattr(client.edge.fast_path, "edge_headers", splitting)

    async def go() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
        writer.write(request_bytes("GET", "/api/items/1", alice))
        received = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        return received

    with caplog.at_level(logging.ERROR):
        received = client.loop.run_until_complete(go())

    assert received == b""  # the connection closed, nothing of the answer sent
    assert any("not written whole" in r.getMessage() for r in caplog.records)


SCOPES = [
    ("GET", b"/api/items/1", b"", [(b"host", b"gateway.test")]),
    (
        "HEAD",
        b"/api/items/a%2Fb%20c",
        b"q=%C3%A9&r=1",
        [
            (b"host", b"gateway.test:8080"),
            (b"accept", b"text/plain"),
            (b"accept", b"application/json"),
            (b"x-forwarded-for", b"10.0.0.1"),
            (b"content-type", b"text/plain"),
            (b"content-length", b"0"),
            (b"x_odd-name", b"\xe9t\xe9"),
        ],
    ),
]


@pytest.mark.parametrize(("method", "raw_path", "query", "headers"), SCOPES)
def test_the_loop_environ_is_the_thread_paths(method, raw_path, query, headers):
    scope = {
        "type": "http",
        "http_version": "1.0",
        "server": ("127.0.0.1", 8000),
        "client": ("10.1.2.3", 50123),
        "scheme": "http",
        "method": method,
        "root_path": "",
        "path": raw_path.decode(),  # unused by either: both read raw_path
        "raw_path": raw_path,
        "query_string": query,
        "headers": headers,
    }
    expected = _as_gunicorn_builds(build_environ(scope, None), scope)  # type: ignore[arg-type]
    expected.pop("asgi.scope")
    environ, joined = request_environ(method, path_info(raw_path), query, headers, scope)

    assert environ == expected
    assert joined == list(
        {
            name.decode("latin-1"): ",".join(v.decode("latin-1") for n, v in headers if n == name)
            for name, _ in headers
        }.items()
    )
