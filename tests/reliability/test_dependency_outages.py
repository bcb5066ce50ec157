"""Outages of what the services depend on: Redis, and content as seen by auth's outbox.

Auth sends its account events to content through a fault proxy, so "content is down" for
auth is a switch the test flips (the proxy refuses, exactly as a stopped process does),
while the gateway still reaches content directly to check the outcome.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from conftest import (
    EmbeddedRedis,
    RunningStack,
    assert_problem,
    free_port,
    login,
    register,
    start_stack,
    wait_until,
)
from faultproxy import FaultProxy

EVENT_DELIVERY_SECONDS = 45  # generous: the outbox backs off between attempts


@pytest.fixture(scope="module")
def events_proxy() -> Iterator[FaultProxy]:
    proxy = FaultProxy(free_port()).start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def outages(tmp_path_factory: pytest.TempPathFactory, events_proxy: FaultProxy) -> Any:
    content_port = events_proxy.target[1]
    running = start_stack(
        tmp_path_factory.mktemp("outages"),
        {
            "CONTENT_PORT": str(content_port),
            "AUTH_CONTENT_SERVICE_URL": events_proxy.url,
            # Retry quickly, so a test waits seconds rather than minutes for redelivery.
            "OUTBOX_POLL_SECONDS": "0.5",
            "OUTBOX_MAX_BACKOFF_SECONDS": "2",
        },
    )
    running.ports["content"] = content_port
    yield running
    running.stop()


@pytest.fixture(scope="module")
def redis(outages: RunningStack) -> Iterator[EmbeddedRedis]:
    # Module-wide: a Redis restarted by a test serves the stack until the stack stops.
    control = EmbeddedRedis(outages)
    yield control
    control.close()


def _item(gateway: str, headers: dict[str, str]) -> dict[str, Any]:
    created = requests.post(
        f"{gateway}/api/items", json={"name": "lamp", "price": 5}, headers=headers, timeout=20
    )
    assert created.status_code == 201, created.text
    return created.json()


def test_redis_down_fails_closed_for_tokens_and_open_for_public_reads(
    outages: RunningStack, redis: EmbeddedRedis
) -> None:
    gateway = outages.gateway
    user = register(gateway)
    item = _item(gateway, user["headers"])
    # Read often enough that each gateway worker trusts the token from its revocation news.
    assert _read_item_statuses(gateway, item["id"], user["headers"], 30) == [200] * 30

    redis.stop()
    try:
        # Trusted or not, a token is not taken while revocation cannot be checked.
        assert _read_item_statuses(gateway, item["id"], user["headers"], 10) == [503] * 10
        me = requests.get(f"{gateway}/auth/me", headers=user["headers"], timeout=20)
        body = assert_problem(me, 503)
        assert "Retry-After" in me.headers, body
        write = requests.post(
            f"{gateway}/api/items", json={"name": "x", "price": 1}, headers=user["headers"]
        )
        assert_problem(write, 503)
        # Public reads do not need Redis: they keep working.
        assert requests.get(f"{gateway}/api/items", timeout=20).status_code == 200
        one = requests.get(f"{gateway}/api/items/{item['id']}", timeout=20)
        assert one.status_code == 200, one.text
        assert requests.get(f"{gateway}/healthz", timeout=5).status_code == 200
        ready = requests.get(f"{gateway}/readyz", timeout=20)
        assert ready.status_code == 503
    finally:
        redis.start()

    def authenticated_works() -> bool:
        answer = requests.get(f"{gateway}/auth/me", headers=user["headers"], timeout=20)
        return answer.status_code == 200

    assert wait_until(authenticated_works, 20)
    assert requests.get(f"{gateway}/readyz", timeout=20).status_code == 200
    again = _item(gateway, user["headers"])
    assert again["owner_id"] == user["account"]["id"]
    # A fresh login works too: throttling counters live in Redis.
    assert login(gateway, user["username"], user["password"])["access_token"]
    # The workers follow revocations again after Redis came back: a logout stops the token
    # on every worker at once.
    assert _read_item_statuses(gateway, item["id"], user["headers"], 30) == [200] * 30
    logout = requests.post(f"{gateway}/auth/logout", headers=user["headers"], timeout=20)
    assert logout.status_code == 204
    assert _read_item_statuses(gateway, item["id"], user["headers"], 30) == [401] * 30


def _read_item_statuses(
    gateway: str, item_id: int, headers: dict[str, str], times: int
) -> list[int]:
    """GET one item `times` times, each on a new connection (so on any gateway worker)."""
    return [
        requests.get(f"{gateway}/api/items/{item_id}", headers=headers, timeout=20).status_code
        for _ in range(times)
    ]


def _profile_status(gateway: str, account_id: int) -> int:
    return requests.get(f"{gateway}/api/users/{account_id}", timeout=20).status_code


def _delete_account(gateway: str, user: dict[str, Any]) -> None:
    deleted = requests.delete(
        f"{gateway}/auth/me", json={"password": user["password"]}, headers=user["headers"]
    )
    assert deleted.status_code == 204, deleted.text


def test_account_events_made_while_content_is_down_arrive_once_each(
    outages: RunningStack, events_proxy: FaultProxy
) -> None:
    gateway = outages.gateway
    # Known to content before the outage, with posts of its own.
    veteran = register(gateway, "vet")
    assert wait_until(lambda: _profile_status(gateway, veteran["account"]["id"]) == 200, 20)
    post = requests.post(
        f"{gateway}/api/posts",
        json={"title": "before the outage", "content": "hello"},
        headers=veteran["headers"],
    )
    assert post.status_code == 201, post.text

    with events_proxy.fault("refuse"):
        kept = [register(gateway, "keep") for _ in range(3)]
        gone = [register(gateway, "gone") for _ in range(2)]
        for user in gone:
            _delete_account(gateway, user)
        _delete_account(gateway, veteran)
        # Nothing has reached content yet: the events wait in auth's outbox.
        for user in kept:
            assert _profile_status(gateway, user["account"]["id"]) == 404
        assert _profile_status(gateway, veteran["account"]["id"]) == 200

    def settled() -> bool:
        return all(_profile_status(gateway, u["account"]["id"]) == 200 for u in kept) and all(
            _profile_status(gateway, u["account"]["id"]) == 404 for u in [*gone, veteran]
        )

    assert wait_until(settled, EVENT_DELIVERY_SECONDS, interval=0.5)
    # Each effect once: one profile per kept account, and the deleted ones' posts gone.
    for user in kept:
        listed = requests.get(f"{gateway}/api/users", params={"per_page": 100}, timeout=20)
        assert [u["username"] for u in listed.json()].count(user["username"]) <= 1
        profile = requests.get(f"{gateway}/api/users/{user['account']['id']}").json()
        assert profile["username"] == user["username"]
    authored = requests.get(f"{gateway}/api/posts", params={"author": veteran["username"]})
    assert authored.status_code in (200, 422), authored.text
    assert authored.status_code == 422 or authored.json() == []
    assert requests.get(f"{gateway}/api/posts/{post.json()['id']}").status_code == 404


def test_events_whose_answer_is_lost_are_redelivered_without_a_second_effect(
    outages: RunningStack, events_proxy: FaultProxy
) -> None:
    """Content applies the event but auth never hears back: the retry must change nothing."""
    gateway = outages.gateway
    with events_proxy.fault("reset", reset_after=0):
        # reset_after=0 drops the answer only: the request has reached content in full.
        born = register(gateway, "lost")
        # The effect happened although auth never heard back (a first attempt may also have
        # been refused outright, so wait for one that got through).
        assert wait_until(
            lambda: _profile_status(gateway, born["account"]["id"]) == 200,
            EVENT_DELIVERY_SECONDS,
        )
        seen = events_proxy.connections_seen
        _delete_account(gateway, born)
        # Unacknowledged, "created" is sent again; "deleted" waits behind it, in order.
        assert wait_until(lambda: events_proxy.connections_seen >= seen + 2, 20)
        assert _profile_status(gateway, born["account"]["id"]) == 200
    # Redelivered created-then-deleted, in that order: the duplicate changes nothing and
    # the delete lands, so the profile goes and, tombstoned, never comes back to life.
    assert wait_until(
        lambda: _profile_status(gateway, born["account"]["id"]) == 404, EVENT_DELIVERY_SECONDS
    )
    survivor = register(gateway, "after")
    assert wait_until(
        lambda: _profile_status(gateway, survivor["account"]["id"]) == 200,
        EVENT_DELIVERY_SECONDS,
    )
    assert _profile_status(gateway, born["account"]["id"]) == 404
    listed = requests.get(f"{gateway}/api/users", params={"per_page": 100}, timeout=20).json()
    assert born["username"] not in [user["username"] for user in listed]
