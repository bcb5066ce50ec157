"""The upstream connection pool: reuse only what is safe to reuse, fail in the right words."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest
from conftest import (
    answer_then_close_when_idle,
    answer_twice,
    chunked_answer,
    cut_short,
    not_http,
    silent,
)

from gateway_service import connections


@pytest.fixture
def pool_for() -> Iterator[Callable[[int], connections.ConnectionPool]]:
    made: list[connections.ConnectionPool] = []

    def make(port: int) -> connections.ConnectionPool:
        made.append(connections.ConnectionPool("http", "127.0.0.1", port, 1.0, 4))
        return made[-1]

    yield make
    for pool in made:
        pool.close()


def test_kept_alive_connections_are_reused(raw_server, pool_for):
    port, replies, peers = raw_server
    replies.append(answer_twice)
    pool = pool_for(port)
    bodies = [connections.send(pool, "GET", "/", {}, None, 2.0).data for _ in range(2)]
    assert bodies == [b"one", b"two"]
    assert len(peers) == 1


def test_a_connection_the_upstream_closed_while_idle_is_never_used_again(raw_server, pool_for):
    port, replies, peers = raw_server
    closed = threading.Event()
    replies += [answer_then_close_when_idle(closed), answer_then_close_when_idle(closed)]
    pool = pool_for(port)
    assert connections.send(pool, "GET", "/", {}, None, 2.0).data == b"ok"
    assert closed.wait(5)
    # Not even a POST, which could not be retried, meets the stale connection.
    answer = connections.send(pool, "POST", "/", {"Content-Length": "1"}, b"x", 2.0)
    assert answer.data == b"ok"
    assert len(peers) == 2


def test_chunked_and_empty_answers_leave_the_connection_reusable(raw_server, pool_for):
    port, replies, peers = raw_server
    replies.append(chunked_answer)
    pool = pool_for(port)
    first = connections.send(pool, "GET", "/", {}, None, 2.0)
    assert b"".join(first.stream(2)) == b"abcde"
    second = connections.send(pool, "DELETE", "/", {}, None, 2.0)
    assert (second.status, second.data) == (204, b"")
    assert len(peers) == 1


def test_an_answer_left_unread_is_never_handed_to_the_next_request(raw_server, pool_for):
    port, replies, peers = raw_server
    replies += [answer_twice, answer_twice]
    pool = pool_for(port)
    first = connections.send(pool, "GET", "/", {}, None, 2.0)
    first.close()  # gave up after the head: its connection is closed, not pooled
    assert connections.send(pool, "GET", "/", {}, None, 2.0).data == b"one"
    assert len(peers) == 2


def test_a_body_cut_short_is_broken(raw_server, pool_for):
    port, replies, _ = raw_server
    replies.append(cut_short)
    answer = connections.send(pool_for(port), "GET", "/", {}, None, 2.0)
    with pytest.raises(connections.AnswerBroken):
        answer.read()


def test_an_answer_that_is_not_http_is_broken(raw_server, pool_for):
    port, replies, _ = raw_server
    replies.append(not_http)
    with pytest.raises(connections.AnswerBroken):
        connections.send(pool_for(port), "GET", "/", {}, None, 2.0)


def test_silence_is_a_timeout_and_a_refusal_a_connect_failure(raw_server, pool_for):
    port, replies, _ = raw_server
    replies.append(silent)
    with pytest.raises(connections.AnswerTimedOut):
        connections.send(pool_for(port), "GET", "/", {}, None, 0.3)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed = unused.getsockname()[1]
    with pytest.raises(connections.ConnectFailed):
        connections.send(pool_for(closed), "GET", "/", {}, None, 1.0)
