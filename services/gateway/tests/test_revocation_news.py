"""Revocation news: what a worker hears of revocation marks, and when it may trust it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import closed_port

from gateway_service import revocation_news
from gateway_service.revocation_news import RevocationNews
from shared.tokens import RevocationList

ALICE = ["revoked:jti:j-alice", "revoked:before:1", "revoked:sid:s-alice"]
BOB = ["revoked:jti:j-bob", "revoked:before:2", "revoked:sid:s-bob"]


@pytest.fixture
def news(redis_server, run) -> Iterator[RevocationNews]:
    redis_server.flushall()
    followed = RevocationNews(f"unix://{redis_server.socket_file}", 1.0, retry_seconds=0.05)
    yield followed
    run(followed.close())


@pytest.fixture
def revocations(redis_server) -> RevocationList:
    return RevocationList(lambda: redis_server)


def settle(run: Callable[..., Any], condition: Callable[[], bool], seconds: float = 5) -> bool:
    """Let the loop run until `condition` holds (or `seconds` pass)."""

    async def wait() -> bool:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    return run(wait())


def subscribed(news: RevocationNews, run: Callable[..., Any]) -> None:
    async def start() -> None:
        news.check_started()

    run(start())
    assert settle(run, lambda: news.live)


def vouch(news: RevocationNews, marks: list[str], run: Callable[..., Any]) -> None:
    """A clean read of the marks, as the edge makes it."""

    async def check() -> None:
        stamp = news.check_started()
        await asyncio.sleep(0)  # the read's round trip
        news.read_clean(marks, stamp)

    run(check())


def test_nothing_is_vouched_for_before_the_subscription_is_up(news, run):
    async def first_check() -> int | None:
        return news.check_started()

    assert run(first_check()) is None  # starts following, vouches for nothing yet
    news.read_clean(ALICE, None)
    assert not news.vouches_for(ALICE)
    assert settle(run, lambda: news.live)


def test_a_clean_read_vouches_until_a_mark_of_the_token_is_written(news, revocations, run):
    subscribed(news, run)
    vouch(news, ALICE, run)
    vouch(news, BOB, run)
    assert news.vouches_for(ALICE) and news.vouches_for(BOB)

    revocations.revoke_token("j-bob", time.time() + 60)
    run(asyncio.sleep(0.02))  # the notice is read
    assert news.vouches_for(ALICE)
    assert not news.vouches_for(BOB)


@pytest.mark.parametrize(
    "revoke",
    [
        lambda revocations: revocations.revoke_session("s-alice", time.time() + 60),
        lambda revocations: revocations.revoke_account("1", lifetime=60),
    ],
    ids=["session", "account"],
)
def test_every_kind_of_mark_is_heard(news, revocations, run, revoke):
    subscribed(news, run)
    vouch(news, ALICE, run)
    revoke(revocations)
    run(asyncio.sleep(0.02))
    assert not news.vouches_for(ALICE)
    vouch(news, ALICE, run)  # read again (the edge then judges the values it read)
    assert news.vouches_for(ALICE)


def test_a_read_sent_before_a_notice_vouches_for_nothing(news, revocations, run):
    subscribed(news, run)

    async def read_overtaken_by_a_revocation() -> None:
        stamp = news.check_started()
        revocations.revoke_token("j-alice", time.time() + 60)  # while the read is out
        await asyncio.sleep(0.02)  # the notice arrives before the read's reply
        news.read_clean(ALICE, stamp)

    run(read_overtaken_by_a_revocation())
    assert not news.vouches_for(ALICE)


def test_a_read_sent_before_a_flush_vouches_for_nothing(news, redis_server, run):
    subscribed(news, run)

    async def read_overtaken_by_a_flush() -> None:
        stamp = news.check_started()
        redis_server.flushdb()  # every notice forgotten, and marks may be gone
        await asyncio.sleep(0.02)
        news.read_clean(ALICE, stamp)

    run(read_overtaken_by_a_flush())
    assert not news.vouches_for(ALICE)


def test_other_keys_change_nothing(news, redis_server, run):
    subscribed(news, run)
    vouch(news, ALICE, run)
    redis_server.set("ratelimit/user:1", 5)
    redis_server.set("revoked-ish", 1)
    run(asyncio.sleep(0.02))
    assert news.vouches_for(ALICE)


def test_a_flush_forgets_everything(news, redis_server, run):
    subscribed(news, run)
    vouch(news, ALICE, run)
    redis_server.flushdb()
    run(asyncio.sleep(0.02))
    assert not news.vouches_for(ALICE)


def test_too_many_changed_marks_forget_everything(news, revocations, run, monkeypatch):
    monkeypatch.setattr(revocation_news, "MAX_CHANGED_MARKS", 2)
    subscribed(news, run)
    vouch(news, ALICE, run)
    for n in range(3):
        revocations.revoke_token(f"j-other-{n}", time.time() + 60)
    run(asyncio.sleep(0.02))
    assert not news.vouches_for(ALICE)
    vouch(news, ALICE, run)
    assert news.vouches_for(ALICE)


def test_a_lost_subscription_is_made_again_and_trusts_nothing_from_before(
    news, redis_server, revocations, run
):
    subscribed(news, run)
    vouch(news, ALICE, run)
    redis_server.client_kill_filter(_type="pubsub")
    assert settle(run, lambda: not news.live)
    assert not news.vouches_for(ALICE)
    # A revocation while nobody listens: read again after the subscription is back.
    revocations.revoke_token("j-bob", time.time() + 60)
    assert settle(run, lambda: news.live)
    assert not news.vouches_for(BOB)
    vouch(news, ALICE, run)
    assert news.vouches_for(ALICE)


def test_without_redis_nothing_is_vouched_for_and_one_warning_is_logged(run, caplog):
    news = RevocationNews(f"redis://127.0.0.1:{closed_port()}/0", 0.2, retry_seconds=0.02)
    caplog.set_level(logging.WARNING, logger="gateway_service.revocation_news")

    async def check() -> int | None:
        return news.check_started()

    try:
        assert run(check()) is None
        run(asyncio.sleep(0.2))  # several attempts
        news.read_clean(ALICE, run(check()))
        assert not news.vouches_for(ALICE)
        warnings = [r for r in caplog.records if "revocation news unavailable" in r.message]
        assert len(warnings) == 1
    finally:
        run(news.close())


def test_a_redis_user_not_allowed_to_track_gets_per_request_reads(redis_server, run, caplog):
    redis_server.execute_command(
        "ACL", "SETUSER", "no-tracking", "on", ">pw", "~*", "+@all", "-client"
    )
    caplog.set_level(logging.WARNING, logger="gateway_service.revocation_news")
    news = RevocationNews(
        f"unix://no-tracking:pw@{redis_server.socket_file}", 1.0, retry_seconds=0.02
    )

    async def check() -> int | None:
        return news.check_started()

    try:
        assert run(check()) is None
        run(asyncio.sleep(0.2))
        assert not news.live
        news.read_clean(ALICE, run(check()))
        assert not news.vouches_for(ALICE)
        warnings = [r.getMessage() for r in caplog.records]
        assert len(warnings) == 1 and "NoPermissionError" in warnings[0]
    finally:
        run(news.close())
        redis_server.execute_command("ACL", "DELUSER", "no-tracking")


def test_close_returns_whenever_it_is_called_while_subscribing_fails(redis_server, run):
    """A worker's shutdown waits for close(): it must end at any moment of a failing retry
    loop (one cancellation could be lost inside redis-py's teardown of a refused handshake,
    and close() then never returned)."""
    redis_server.execute_command(
        "ACL", "SETUSER", "no-tracking", "on", ">pw", "~*", "+@all", "-client"
    )
    url = f"unix://no-tracking:pw@{redis_server.socket_file}"

    async def start_then_close(after: float) -> None:
        news = RevocationNews(url, 1.0, retry_seconds=0.001)
        news.check_started()
        await asyncio.sleep(after)
        await asyncio.wait_for(news.close(), 2)  # TimeoutError: close() hangs

    try:
        with _quiet(revocation_news.log):
            for n in range(60):
                run(start_then_close(n * 0.0008))
    finally:
        redis_server.execute_command("ACL", "DELUSER", "no-tracking")


@contextlib.contextmanager
def _quiet(logger: logging.Logger) -> Iterator[None]:
    previous, logger.disabled = logger.disabled, True
    try:
        yield
    finally:
        logger.disabled = previous


class FreezingRelay:
    """A Unix-socket relay to Redis that can go silent without closing anything, as a
    connection whose middlebox dropped it does."""

    def __init__(self, path: str, target: str) -> None:
        self.path, self.target = path, target
        self.frozen = threading.Event()
        self.sockets: list[socket.socket] = []
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(path)
        self.listener.listen()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                upstream = socket.socket(socket.AF_UNIX)
                upstream.connect(self.target)
                self.sockets += [client, upstream]
                for source, sink in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if not self.frozen.is_set():
                    sink.sendall(data)

    def close(self) -> None:
        self.listener.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def test_trust_lapses_when_redis_goes_silent_on_the_subscription(redis_server, run, tmp_path):
    relay = FreezingRelay(str(tmp_path / "relay.sock"), redis_server.socket_file)
    news = RevocationNews(f"unix://{relay.path}", 0.2, retry_seconds=0.05, heartbeat_seconds=0.1)
    try:
        subscribed(news, run)
        vouch(news, ALICE, run)
        run(asyncio.sleep(0.5))  # heartbeats answered: trust holds
        assert news.vouches_for(ALICE)

        relay.frozen.set()  # nothing arrives any more, and nothing says so
        run(asyncio.sleep(0.1 + 0.2 + 0.1))  # a heartbeat, its timeout, and some slack
        assert not news.live  # the unanswered ping dropped the connection
        assert not news.vouches_for(ALICE)

        relay.frozen.clear()
        assert settle(run, lambda: news.live)  # subscribed again, trusting nothing from before
        assert not news.vouches_for(ALICE)
    finally:
        run(news.close())
        relay.close()
