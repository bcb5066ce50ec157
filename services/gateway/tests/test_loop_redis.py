"""The edge's Redis connection: pipelined replies in order, scripts loaded, failures bounded."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from conftest import closed_port
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from gateway_service.loop_redis import LoopRedis, pack


@pytest.fixture
def loop_redis(redis_server, run) -> Iterator[LoopRedis]:
    redis_server.flushall()
    client = LoopRedis(f"unix://{redis_server.socket_file}", 1.0, 1.0)
    yield client
    client.close()
    run(asyncio.sleep(0))


def test_concurrent_commands_get_their_own_replies(loop_redis, run):
    async def many() -> list[object]:
        return await asyncio.gather(*(loop_redis.call("INCRBY", f"k{i % 3}", i) for i in range(60)))

    replies = run(many())
    assert len(replies) == 60
    # Each reply is its own command's: INCRBY k<i%3> by i, in the order sent.
    totals = {0: 0, 1: 0, 2: 0}
    for i, reply in enumerate(replies):
        totals[i % 3] += i
        assert reply == totals[i % 3]


def test_a_script_unknown_to_redis_is_loaded_then_run_by_name(loop_redis, redis_server, run):
    script = b"return {KEYS[1], ARGV[1]}"
    sha = hashlib.sha1(script).hexdigest()
    redis_server.script_flush()
    assert run(loop_redis.evalsha(script, ["a"], [1])) == [b"a", b"1"]
    assert redis_server.script_exists(sha) == [True]
    assert run(loop_redis.evalsha(script, ["b"], [2])) == [b"b", b"2"]


def test_an_error_reply_is_raised_and_the_connection_kept(loop_redis, run):
    run(loop_redis.call("SET", "s", "text"))
    with pytest.raises(ResponseError):
        run(loop_redis.call("INCR", "s"))
    assert run(loop_redis.call("GET", "s")) == b"text"


def test_a_dropped_connection_is_made_again(loop_redis, redis_server, run):
    assert run(loop_redis.call("PING")) == b"PONG"
    redis_server.client_kill_filter(_type="normal", skipme=True)
    time.sleep(0.05)
    run(asyncio.sleep(0.05))  # the loop sees the close
    assert run(loop_redis.call("PING")) == b"PONG"


def test_no_redis_is_a_connection_error_and_silence_a_timeout(run):
    with pytest.raises(RedisConnectionError):
        run(LoopRedis(f"redis://127.0.0.1:{closed_port()}/0", 0.3, 0.3).call("PING"))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        silent = LoopRedis(f"redis://127.0.0.1:{listener.getsockname()[1]}/0", 0.3, 0.3)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            run(silent.call("PING"))
        assert time.monotonic() - started < 2
    finally:
        listener.close()


def test_credentials_and_database_from_the_url_are_sent_first(run):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    received: list[bytes] = []

    def fake_redis() -> None:
        conn, _ = listener.accept()
        with conn:
            for reply in (b"+OK\r\n", b"+OK\r\n", b"+PONG\r\n"):  # AUTH, SELECT, PING
                received.append(conn.recv(4096))
                conn.sendall(reply)
            conn.recv(1)

    threading.Thread(target=fake_redis, daemon=True).start()
    port = listener.getsockname()[1]
    client = LoopRedis(f"redis://:s3cret@127.0.0.1:{port}/3", 1.0, 1.0)
    try:
        assert run(client.call("PING")) == b"PONG"
    finally:
        client.close()
        listener.close()
    assert received == [pack("AUTH", "default", "s3cret"), pack("SELECT", 3), pack("PING")]
