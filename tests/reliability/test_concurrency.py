"""Races through the gateway: many clients doing the same thing at the same instant.

Each test releases its threads together from a barrier, so the requests overlap in the
services (several gunicorn workers and threads), not just in the test.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from conftest import MAIL_DIRS, link_in, login, register, wait_for_mail


def at_once(count: int, call: Callable[[int], requests.Response]) -> list[requests.Response]:
    barrier = threading.Barrier(count)

    def run(index: int) -> requests.Response:
        barrier.wait(timeout=30)
        return call(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_20_registrations_of_one_email_give_20_accounts_and_one_holder(gateway: str) -> None:
    """All twenty are told 201 and get an account that logs in (a taken address answers
    as a new one does, so registering reveals nobody's account); of the twenty links mailed
    to the address, followed at the same instant, exactly one verifies it."""
    email = f"race-{uuid.uuid4().hex[:10]}@example.com"
    usernames = [f"race{index}{uuid.uuid4().hex[:6]}" for index in range(20)]
    password = "correct horse battery"

    def register_one(index: int) -> requests.Response:
        return requests.post(
            f"{gateway}/auth/register",
            json={"username": usernames[index], "email": email, "password": password},
            timeout=60,
        )

    responses = at_once(20, register_one)
    assert Counter(r.status_code for r in responses) == {201: 20}
    assert {r.json()["email"] for r in responses} == {email}
    assert len({r.json()["id"] for r in responses}) == 20
    tokens = [login(gateway, username, password)["access_token"] for username in usernames]

    # Nobody held the address while they registered: each account was mailed a link.
    links = [
        link_in(
            wait_for_mail(MAIL_DIRS[gateway], email, "confirm your e-mail", skip=n),
            "/auth/web/verify",
        )[1]
        for n in range(20)
    ]

    def verify_one(index: int) -> requests.Response:
        return requests.post(
            f"{gateway}/auth/email/verify", json={"token": links[index]}, timeout=60
        )

    outcomes = Counter(r.status_code for r in at_once(20, verify_one))
    assert outcomes[200] == 1 and outcomes[409] + outcomes[422] == 19, outcomes
    verified = [
        requests.get(
            f"{gateway}/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=20
        ).json()["email_verified"]
        for token in tokens
    ]
    assert verified.count(True) == 1, verified


def test_20_registrations_of_one_username_in_different_cases_give_one_account(
    gateway: str,
) -> None:
    base = "Race" + uuid.uuid4().hex[:8]

    def register_one(index: int) -> requests.Response:
        name = base.upper() if index % 2 else base.lower()
        return requests.post(
            f"{gateway}/auth/register",
            json={
                "username": name,
                "email": f"{uuid.uuid4().hex[:10]}@example.com",
                "password": "correct horse battery",
            },
            timeout=60,
        )

    statuses = Counter(r.status_code for r in at_once(20, register_one))
    assert statuses == {201: 1, 409: 19}, statuses


def test_10_refreshes_of_one_token_leave_one_live_session(gateway: str) -> None:
    user = register(gateway)
    refresh_token = user["tokens"]["refresh_token"]

    def refresh(_: int) -> requests.Response:
        return requests.post(
            f"{gateway}/auth/refresh",
            headers={"Authorization": f"Bearer {refresh_token}"},
            timeout=60,
        )

    responses = at_once(10, refresh)
    assert all(r.status_code in (200, 401, 409) for r in responses), [
        (r.status_code, r.text[:200]) for r in responses
    ]
    winners = [r.json() for r in responses if r.status_code == 200]
    assert winners, "no refresh succeeded"
    # However many requests won the race, they hold one session's one next token.
    live_refresh_tokens = {pair["refresh_token"] for pair in winners}
    assert len(live_refresh_tokens) == 1, f"{len(live_refresh_tokens)} refresh tokens live"
    (next_token,) = live_refresh_tokens
    again = requests.post(
        f"{gateway}/auth/refresh", headers={"Authorization": f"Bearer {next_token}"}, timeout=30
    )
    assert again.status_code == 200, again.text
    access = again.json()["access_token"]
    me = requests.get(f"{gateway}/auth/me", headers={"Authorization": f"Bearer {access}"})
    assert me.status_code == 200, me.text


def _new_item(gateway: str, headers: dict[str, str]) -> dict[str, Any]:
    created = requests.post(
        f"{gateway}/api/items", json={"name": "race", "price": 1}, headers=headers, timeout=30
    )
    assert created.status_code == 201, created.text
    return created.json()


def test_simultaneous_puts_with_one_if_match_give_one_success(gateway: str) -> None:
    user = register(gateway)
    item = _new_item(gateway, user["headers"])
    url = f"{gateway}/api/items/{item['id']}"
    etag = requests.get(url, timeout=30).headers["ETag"]

    def put(index: int) -> requests.Response:
        return requests.put(
            url,
            json={"name": f"writer {index}", "description": "", "price": index},
            headers={**user["headers"], "If-Match": etag},
            timeout=60,
        )

    responses = at_once(10, put)
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 1, 412: 9}, statuses
    (winner,) = [r for r in responses if r.status_code == 200]
    final = requests.get(url, timeout=30).json()
    assert final["name"] == winner.json()["name"]  # no loser's write slipped in after


def test_simultaneous_posts_with_one_idempotency_key_create_one_row(gateway: str) -> None:
    user = register(gateway)
    name = "idem-" + uuid.uuid4().hex[:12]
    key = uuid.uuid4().hex

    def post(_: int) -> requests.Response:
        return requests.post(
            f"{gateway}/api/items",
            json={"name": name, "price": 2},
            headers={**user["headers"], "Idempotency-Key": key},
            timeout=60,
        )

    responses = at_once(10, post)
    # The first creates; a repeat replays it, or is told the first is still running.
    assert all(r.status_code in (201, 409) for r in responses), [
        (r.status_code, r.text[:200]) for r in responses
    ]
    ids = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(ids) == 1, ids
    listed = requests.get(f"{gateway}/api/items", params={"q": name}, timeout=30)
    assert listed.headers["X-Total-Count"] == "1", listed.json()
    replay = post(0)
    assert replay.status_code == 201 and replay.json()["id"] in ids
