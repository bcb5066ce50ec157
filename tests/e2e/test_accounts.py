"""Accounts people can recover, end to end: the real stack and its real mail catcher.

Every link is taken from a mail the catcher (aiosmtpd, started by `make up`) received, and
followed the way a browser does: the hosted page, then its form.
"""

from __future__ import annotations

import time
import uuid

import pytest
import requests
from conftest import (
    MAIL_DIRS,
    caught_mail,
    hidden_fields,
    link_in,
    verify_email,
    wait_for_mail,
)

PASSWORD = "recovery passphrase 1"


def submit(session: requests.Session, link: str, **fields: str) -> requests.Response:
    """Open a mailed link's page and send its form, as a browser would."""
    page = session.get(link, timeout=10)
    assert page.status_code == 200, page.text
    assert page.headers["Referrer-Policy"] == "no-referrer"
    return session.post(
        link.split("?")[0],
        data={**hidden_fields(page.text), **fields},
        timeout=10,
        allow_redirects=False,
    )


def new_account(gateway: str) -> dict[str, str]:
    name = "a" + uuid.uuid4().hex[:10]
    body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    created = requests.post(f"{gateway}/auth/register", json=body, timeout=10)
    assert created.status_code == 201, created.text
    return {**body, "id": created.json()["id"]}


def login(gateway: str, username: str, password: str = PASSWORD) -> requests.Response:
    return requests.post(
        f"{gateway}/auth/login", json={"username": username, "password": password}, timeout=10
    )


def bearer(pair: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['access_token']}"}


def test_the_mailed_link_verifies_the_address_and_opens_content_writes(gateway):
    account = new_account(gateway)
    before = login(gateway, account["username"]).json()
    refused = requests.post(
        f"{gateway}/api/items",
        json={"name": "early", "price": 1},
        headers=bearer(before),
        timeout=10,
    )
    assert refused.status_code == 403
    mine = requests.get(f"{gateway}/api/items", params={"q": "early"}, timeout=10).json()
    assert [i for i in mine if i["owner_id"] == account["id"]] == []  # nothing was written

    mail = wait_for_mail(MAIL_DIRS[gateway], account["email"], "confirm your e-mail")
    link, token = link_in(mail, "/auth/web/verify")
    assert link.startswith(gateway + "/auth/web/verify?token=")
    done = submit(requests.Session(), link)
    assert done.status_code == 302

    after = login(gateway, account["username"]).json()
    me = requests.get(f"{gateway}/auth/me", headers=bearer(after), timeout=10).json()
    assert me["email_verified"] is True
    created = requests.post(
        f"{gateway}/api/items", json={"name": "late", "price": 1}, headers=bearer(after), timeout=10
    )
    assert created.status_code == 201, created.text
    # The link works once.
    again = requests.post(f"{gateway}/auth/email/verify", json={"token": token}, timeout=10)
    assert again.status_code == 422


def registrant_view(gateway: str, email: str) -> dict:
    """What someone registering with `email` can observe, without its mailbox."""
    name = "m" + uuid.uuid4().hex[:10]
    password = "newcomer passphrase " + uuid.uuid4().hex[:6]  # not the owner's
    answer = requests.post(
        f"{gateway}/auth/register",
        json={"username": name, "email": email, "password": password},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    pair = login(gateway, name, password)
    assert pair.status_code == 200, pair.text
    headers = bearer(pair.json())
    me = requests.get(f"{gateway}/auth/me", headers=headers, timeout=10).json()
    post = requests.post(
        f"{gateway}/api/posts", json={"title": "t", "content": "c"}, headers=headers, timeout=10
    )
    resends = [
        requests.post(f"{gateway}/auth/email/verify/resend", headers=headers, timeout=10)
        for _ in range(2)
    ]
    profile = None
    deadline = time.monotonic() + 30
    while profile is None and time.monotonic() < deadline:
        found = requests.get(f"{gateway}/api/users/{me['id']}", timeout=10)
        profile = found.json() if found.status_code == 200 else time.sleep(0.2)
    return {
        "name": name,
        "id": me["id"],
        "answer_is_me": answer.json() == me,
        "email_verified": me["email_verified"],
        "by_address": login(gateway, email, password).status_code,
        "post": post.status_code,
        "resends": [r.status_code for r in resends],
        "profile": profile is not None and profile["username"] == name,
    }


def test_a_taken_address_gets_the_same_answer_and_the_owner_a_notice(gateway):
    owner = new_account(gateway)
    verify_email(gateway, owner["email"])
    taken = registrant_view(gateway, owner["email"].upper())
    fresh = registrant_view(gateway, f"f{uuid.uuid4().hex[:10]}@example.com")
    same = ("answer_is_me", "email_verified", "by_address", "post", "resends", "profile")
    assert {key: taken[key] for key in same} == {key: fresh[key] for key in same}
    assert taken["email_verified"] is False and taken["post"] == 403
    assert taken["resends"] == [202, 429] and taken["by_address"] == 401
    assert taken["id"] not in (owner["id"], fresh["id"])
    notice = wait_for_mail(MAIL_DIRS[gateway], owner["email"], "someone tried to register")
    assert taken["name"] in notice.get_content()
    # The owner's address still logs the owner in, and only the owner.
    assert login(gateway, owner["email"]).json()["access_token"]
    # Nothing but the notice reached the owner's mailbox for the newcomer: no link.
    to_owner = [
        str(m["Subject"]) for m in caught_mail(MAIL_DIRS[gateway]) if m["To"] == owner["email"]
    ]
    assert len([s for s in to_owner if "confirm your e-mail" in s]) == 1  # the owner's own


def test_an_unknown_address_gets_the_same_answer_and_no_mail(gateway):
    address = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    unknown = requests.post(f"{gateway}/auth/password/forgot", json={"email": address}, timeout=10)
    known = new_account(gateway)
    answered = requests.post(
        f"{gateway}/auth/password/forgot", json={"email": known["email"]}, timeout=10
    )
    assert unknown.status_code == answered.status_code == 202
    assert unknown.content == answered.content == b""
    wait_for_mail(MAIL_DIRS[gateway], known["email"], "reset your password")
    # The known address's mail went out after the unknown one's would have: none came.
    assert [m for m in caught_mail(MAIL_DIRS[gateway]) if m["To"] == address] == []


def test_a_password_is_reset_from_the_mail(gateway):
    account = new_account(gateway)
    old_session = login(gateway, account["username"]).json()
    requests.post(f"{gateway}/auth/password/forgot", json={"email": account["email"]}, timeout=10)
    mail = wait_for_mail(MAIL_DIRS[gateway], account["email"], "reset your password")
    link, token = link_in(mail, "/auth/web/reset")
    new = "a new recovery passphrase"
    done = submit(requests.Session(), link, new_password=new, confirm=new)
    assert done.status_code == 302 and done.headers["Location"].endswith("/auth/web/login")

    assert (
        requests.get(f"{gateway}/auth/me", headers=bearer(old_session), timeout=10).status_code
        == 401
    )
    assert login(gateway, account["username"]).status_code == 401
    assert login(gateway, account["username"], new).status_code == 200
    wait_for_mail(MAIL_DIRS[gateway], account["email"], "your password was changed")
    reused = requests.post(
        f"{gateway}/auth/password/reset",
        json={"token": token, "new_password": "yet another one 1"},
        timeout=10,
    )
    assert reused.status_code == 422
    assert login(gateway, account["username"], new).status_code == 200


def test_a_reset_link_is_refused_after_a_password_change(gateway):
    account = new_account(gateway)
    requests.post(f"{gateway}/auth/password/forgot", json={"email": account["email"]}, timeout=10)
    _, token = link_in(
        wait_for_mail(MAIL_DIRS[gateway], account["email"], "reset your password"),
        "/auth/web/reset",
    )
    pair = login(gateway, account["username"]).json()
    changed = requests.put(
        f"{gateway}/auth/me/password",
        json={"current_password": PASSWORD, "new_password": "changed passphrase 2"},
        headers=bearer(pair),
        timeout=10,
    )
    assert changed.status_code == 204
    refused = requests.post(
        f"{gateway}/auth/password/reset",
        json={"token": token, "new_password": "attacker passphrase 3"},
        timeout=10,
    )
    assert refused.status_code == 422
    assert login(gateway, account["username"], "changed passphrase 2").status_code == 200


@pytest.mark.local_stack
def test_mailed_secrets_never_reach_a_log(stack, gateway):
    account = new_account(gateway)
    requests.post(f"{gateway}/auth/password/forgot", json={"email": account["email"]}, timeout=10)
    _, verify = link_in(
        wait_for_mail(stack.mail_dir, account["email"], "confirm your e-mail"), "/auth/web/verify"
    )
    _, reset = link_in(
        wait_for_mail(stack.mail_dir, account["email"], "reset your password"), "/auth/web/reset"
    )
    submit(requests.Session(), f"{gateway}/auth/web/verify?token={verify}")
    time.sleep(0.5)  # let the access lines be written
    logs = "".join(stack.log(name) for name in ("auth", "gateway", "content", "devstack"))
    assert "/auth/web/verify" in logs  # the requests were logged...
    assert verify not in logs and reset not in logs  # ...without their secrets
