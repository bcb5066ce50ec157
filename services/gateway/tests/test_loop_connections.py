"""The event loop's upstream pool: the same reuse rules and failures as the thread pool's."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator

import pytest
from conftest import (
    answer_once,
    answer_then_close_when_idle,
    answer_twice,
    chunked_answer,
    cut_short,
    not_http,
    read_request,
    silent,
)

from gateway_service import loop_connections
from gateway_service.connections import AnswerBroken, AnswerTimedOut, ConnectFailed
from gateway_service.loop_connections import LoopConnectionPool, send


@pytest.fixture
def pool_for(run) -> Iterator[Callable[[int], LoopConnectionPool]]:
    made: list[LoopConnectionPool] = []

    def make(port: int) -> LoopConnectionPool:
        made.append(LoopConnectionPool("http", "127.0.0.1", port, 1.0, 4))
        return made[-1]

    yield make
    for pool in made:
        pool.close()
    run(asyncio.sleep(0))  # the transports finish closing on their loop


async def get(pool: LoopConnectionPool, method: str = "GET", timeout: float = 2.0) -> bytes:
    answer = await send(pool, method, "/", {}, timeout)
    return await answer.read()


def test_kept_alive_connections_are_reused(raw_server, pool_for, run):
    port, replies, peers = raw_server
    replies.append(answer_twice)
    pool = pool_for(port)
    assert [run(get(pool)), run(get(pool))] == [b"one", b"two"]
    assert len(peers) == 1


def test_a_connection_the_upstream_closed_while_idle_is_never_used_again(raw_server, pool_for, run):
    port, replies, peers = raw_server
    closed = threading.Event()
    replies += [answer_then_close_when_idle(closed), answer_then_close_when_idle(closed)]
    pool = pool_for(port)
    assert run(get(pool)) == b"ok"
    assert closed.wait(5)
    run(asyncio.sleep(0.05))  # the loop reads the upstream's FIN
    assert run(get(pool, "DELETE")) == b"ok"  # not retryable: it must get a fresh connection
    assert len(peers) == 2


def test_chunked_and_empty_answers_leave_the_connection_reusable(raw_server, pool_for, run):
    port, replies, peers = raw_server
    replies.append(chunked_answer)
    pool = pool_for(port)

    async def both() -> tuple[bytes, int, bytes]:
        first = await send(pool, "GET", "/", {}, 2.0)
        streamed = b"".join([part async for part in first.stream(2)])
        second = await send(pool, "DELETE", "/", {}, 2.0)
        return streamed, second.status, await second.read()

    assert run(both()) == (b"abcde", 204, b"")
    assert len(peers) == 1


def test_interim_answers_are_skipped_and_close_delimited_bodies_read_to_the_end(
    raw_server, pool_for, run
):
    port, replies, peers = raw_server

    def early_hints_then_close_delimited(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n")
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
        conn.close()

    replies += [early_hints_then_close_delimited, answer_twice]
    pool = pool_for(port)
    answer = run(send(pool, "GET", "/", {}, 2.0))
    assert (answer.status, answer.headers.get("content-type")) == (200, "text/plain")
    assert run(answer.read()) == b"until the end"
    assert run(get(pool)) == b"one"  # a close-delimited answer's connection is not reused
    assert len(peers) == 2


def test_head_answers_have_no_body_whatever_they_announce(raw_server, pool_for, run):
    port, replies, peers = raw_server

    def head_then_get(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n")
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo")
        conn.close()

    replies.append(head_then_get)
    pool = pool_for(port)
    assert run(get(pool, "HEAD")) == b""
    assert run(get(pool)) == b"two"
    assert len(peers) == 1


def test_the_request_is_sent_as_http_client_would(raw_server, pool_for, run):
    port, replies, _ = raw_server
    seen: list[bytes] = []

    def record(conn: socket.socket) -> None:
        seen.append(read_request(conn))
        conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
        conn.close()

    replies.append(record)
    answer = run(send(pool_for(port), "GET", "/a%20b?q=1", {"X-Request-ID": "r-1"}, 2.0))
    answer.release()
    assert seen[0].split(b"\r\n")[:2] == [
        b"GET /a%20b?q=1 HTTP/1.1",
        f"Host: 127.0.0.1:{port}".encode(),
    ]
    assert b"X-Request-ID: r-1\r\n" in seen[0]
    assert b"Accept-Encoding: identity\r\n" in seen[0]


def test_an_answer_left_unread_is_never_handed_to_the_next_request(raw_server, pool_for, run):
    port, replies, peers = raw_server
    replies += [answer_twice, answer_twice]
    pool = pool_for(port)
    first = run(send(pool, "GET", "/", {}, 2.0))
    first.close()
    assert run(get(pool)) == b"one"
    assert len(peers) == 2


def test_a_body_cut_short_is_broken(raw_server, pool_for, run, monkeypatch):
    port, replies, _ = raw_server
    replies += [cut_short, cut_short]
    with pytest.raises(AnswerBroken):  # read with its head
        run(get(pool_for(port)))
    monkeypatch.setattr(loop_connections, "PREFETCH_BYTES", 0)
    answer = run(send(pool_for(port), "GET", "/", {}, 2.0))
    with pytest.raises(AnswerBroken):  # read after it
        run(answer.read())


def test_an_answer_that_is_not_http_is_broken(raw_server, pool_for, run):
    port, replies, _ = raw_server
    replies.append(not_http)
    with pytest.raises(AnswerBroken):
        run(get(pool_for(port)))


def test_silence_is_a_timeout_and_a_refusal_a_connect_failure(raw_server, pool_for, run):
    port, replies, _ = raw_server
    replies.append(silent)
    with pytest.raises(AnswerTimedOut):
        run(get(pool_for(port), timeout=0.3))
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed = unused.getsockname()[1]
    with pytest.raises(ConnectFailed):
        run(get(pool_for(closed)))


def test_trailers_are_not_headers_and_the_connection_stays_reusable(raw_server, pool_for, run):
    port, replies, peers = raw_server

    def trailers_then_again(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"2\r\nab\r\n0\r\nX-Checksum: 1\r\n\r\n"
        )
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo")
        conn.close()

    replies.append(trailers_then_again)
    pool = pool_for(port)
    answer = run(send(pool, "GET", "/", {}, 2.0))
    assert run(answer.read()) == b"ab"
    assert answer.headers.get("X-Checksum") is None
    assert run(get(pool)) == b"two"
    assert len(peers) == 1


def test_a_head_too_long_is_broken(raw_server, pool_for, run, monkeypatch):
    port, replies, _ = raw_server
    monkeypatch.setattr(loop_connections, "MAX_HEAD_BYTES", 100)
    replies.append(answer_once(b"HTTP/1.1 200 OK\r\nX-Padding: " + b"p" * 200 + b"\r\n\r\n"))
    with pytest.raises(AnswerBroken):
        run(get(pool_for(port)))


def test_bytes_beyond_the_answer_keep_the_answer_but_not_the_connection(raw_server, pool_for, run):
    port, replies, peers = raw_server

    def answer_and_more(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n")
        conn.settimeout(5)
        assert conn.recv(1) == b""  # the gateway hangs up: it never sends on this one again
        conn.close()

    replies += [answer_and_more, answer_twice]
    pool = pool_for(port)
    assert run(get(pool)) == b"ok"
    assert run(get(pool)) == b"one"  # on a new connection: the first one was out of step
    assert len(peers) == 2


def test_a_large_body_is_read_whole_while_reading_pauses_for_the_reader(
    raw_server, pool_for, run, monkeypatch
):
    port, replies, _ = raw_server
    monkeypatch.setattr(loop_connections, "BUFFER_HIGH_WATER", 4096)
    monkeypatch.setattr(loop_connections, "PREFETCH_BYTES", 0)
    body = bytes(range(256)) * 2048  # 512 KiB

    def large(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        conn.close()

    replies.append(large)

    async def slowly() -> tuple[bytes, int, bool]:
        answer = await send(pool_for(port), "GET", "/", {}, 2.0)
        connection = answer._connection
        assert connection is not None
        parts, most_held, paused = [], 0, False
        async for part in answer.stream(1024):
            parts.append(part)
            most_held = max(most_held, connection.buffered_size)
            paused = paused or connection._paused
            await asyncio.sleep(0)
        return b"".join(parts), most_held, paused

    received, most_held, paused = run(slowly())
    assert received == body
    assert paused  # the upstream was held back rather than the whole body buffered
    assert most_held < 4096 + 256 * 1024  # the high-water mark plus at most one read
