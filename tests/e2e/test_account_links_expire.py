"""Mailed links expire, over the real stack and its mail catcher, on the real clock.

The stack runs with links that live LINK_SECONDS (EMAIL_TOKEN_MINUTES and
PASSWORD_RESET_TOKEN_MINUTES are fractional minutes), so a test waits seconds, not a day.
Each test shows a link refused once its time is up and a new one, used in time, working:
the refusal is the expiry, nothing else.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
import requests
from conftest import RunningStack, link_in, wait_for_mail

LINK_SECONDS = 8.0
PASSWORD = "expiring links passphrase"


@pytest.fixture(scope="module")
def stack_of_short_links(tmp_path_factory) -> Iterator[RunningStack]:
    running = RunningStack(
        tmp_path_factory.mktemp("stack-short-links"),
        {
            "EMAIL_TOKEN_MINUTES": str(LINK_SECONDS / 60),
            "PASSWORD_RESET_TOKEN_MINUTES": str(LINK_SECONDS / 60),
            # A second link may be asked for at once (the throttle has tests of its own).
            "MAIL_THROTTLE_SECONDS": "1",
        },
    )
    running.start()
    yield running
    running.stop()


def received_at(message: EmailMessage) -> float:
    """When the catcher got the mail: the link was made at most this long before."""
    return time.time() if message["Date"] is None else message["Date"].datetime.timestamp()


def wait_past_expiry(message: EmailMessage) -> None:
    time.sleep(max(0.0, received_at(message) + LINK_SECONDS + 1 - time.time()))


def register(gateway: str) -> dict[str, str]:
    name = "x" + uuid.uuid4().hex[:10]
    body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    assert requests.post(f"{gateway}/auth/register", json=body, timeout=10).status_code == 201
    return body


def test_a_verification_link_expires(stack_of_short_links: RunningStack) -> None:
    gateway, mail = stack_of_short_links.gateway, stack_of_short_links.mail_dir
    account = register(gateway)
    first = wait_for_mail(mail, account["email"], "confirm your e-mail")
    _, expired = link_in(first, "/auth/web/verify")
    wait_past_expiry(first)
    late = requests.post(f"{gateway}/auth/email/verify", json={"token": expired}, timeout=10)
    assert late.status_code == 422, late.text
    assert late.json()["errors"][0]["field"] == "token"

    pair = requests.post(
        f"{gateway}/auth/login",
        json={"username": account["username"], "password": PASSWORD},
        timeout=10,
    ).json()
    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    me = requests.get(f"{gateway}/auth/me", headers=headers, timeout=10).json()
    assert me["email_verified"] is False
    resent = requests.post(f"{gateway}/auth/email/verify/resend", headers=headers, timeout=10)
    assert resent.status_code == 202, resent.text
    second = wait_for_mail(mail, account["email"], "confirm your e-mail", skip=1)
    _, fresh = link_in(second, "/auth/web/verify")
    in_time = requests.post(f"{gateway}/auth/email/verify", json={"token": fresh}, timeout=10)
    assert in_time.status_code == 200, in_time.text
    assert in_time.json()["email_verified"] is True


def test_a_reset_link_expires(stack_of_short_links: RunningStack) -> None:
    gateway, mail = stack_of_short_links.gateway, stack_of_short_links.mail_dir
    account = register(gateway)
    ask = {"email": account["email"]}
    assert requests.post(f"{gateway}/auth/password/forgot", json=ask, timeout=10).status_code == 202
    first = wait_for_mail(mail, account["email"], "reset your password")
    _, expired = link_in(first, "/auth/web/reset")
    wait_past_expiry(first)
    new_password = "a later passphrase"
    late = requests.post(
        f"{gateway}/auth/password/reset",
        json={"token": expired, "new_password": new_password},
        timeout=10,
    )
    assert late.status_code == 422, late.text
    old_login = {"username": account["username"], "password": PASSWORD}
    assert requests.post(f"{gateway}/auth/login", json=old_login, timeout=10).status_code == 200

    assert requests.post(f"{gateway}/auth/password/forgot", json=ask, timeout=10).status_code == 202
    second = wait_for_mail(mail, account["email"], "reset your password", skip=1)
    _, fresh = link_in(second, "/auth/web/reset")
    in_time = requests.post(
        f"{gateway}/auth/password/reset",
        json={"token": fresh, "new_password": new_password},
        timeout=10,
    )
    assert in_time.status_code == 204, in_time.text
    new_login = {"username": account["username"], "password": new_password}
    assert requests.post(f"{gateway}/auth/login", json=new_login, timeout=10).status_code == 200
