"""Several accounts may show one address; one at most verifies it, and only it is reached by it.

What a registrant sees (the answer, login, /auth/me, the token, resend, the account event)
must be the same whether or not the address they typed belongs to someone else.
"""

from __future__ import annotations

import pytest
from conftest import PASSWORD, bearer
from test_outbox import events
from test_recovery import forgot, reset_token
from test_verification import claims, link_token, mails, verify

from auth_service.extensions import db
from auth_service.models import Account

OTHER = "another fine phrase"


def register_as(client, username: str, email: str, password: str = PASSWORD) -> dict:
    response = client.post(
        "/auth/register", json={"username": username, "email": email, "password": password}
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def login_as(client, username: str, password: str = PASSWORD):
    return client.post("/auth/login", json={"username": username, "password": password})


@pytest.fixture
def owner(app, client) -> dict:
    """Alice, who verified alice@example.com."""
    account = register_as(client, "alice", "alice@example.com")
    verify(app, client, "alice@example.com")
    return account


def what_the_registrant_sees(client, username: str, email: str) -> dict:
    """Everything a registrant can observe without the mailbox, with ids and times cut."""
    answer = register_as(client, username, email, OTHER)
    pair = login_as(client, username, OTHER)
    assert pair.status_code == 200
    headers = bearer(pair.get_json()["access_token"])
    me = client.get("/auth/me", headers=headers).get_json()
    token = claims(pair.get_json()["access_token"])
    resend = client.post("/auth/email/verify/resend", headers=headers)
    resend_again = client.post("/auth/email/verify/resend", headers=headers)
    by_address = login_as(client, email, OTHER)
    plain = {key: value for key, value in answer.items() if key not in ("id", "created_at")}
    return {
        "answer": {**plain, "username": "?"},
        "me": {key: value for key, value in me.items() if key not in ("id", "created_at")}
        | {"username": "?"},
        "me_is_answer": me["id"] == answer["id"] and me["created_at"] == answer["created_at"],
        "email_verified_claim": token["email_verified"],
        "resend": (resend.status_code, resend_again.status_code),
        "login_by_address": by_address.status_code,
    }


def test_a_taken_and_a_free_address_look_the_same_to_the_registrant(app, client, owner):
    # The same address twice, once taken (by verified Alice) and once free, compared.
    taken = what_the_registrant_sees(client, "mallory", "alice@example.com")
    free = what_the_registrant_sees(client, "bob", "bob@example.com")
    taken["answer"]["email"] = taken["me"]["email"] = "x"
    free["answer"]["email"] = free["me"]["email"] = "x"
    assert taken == free
    assert taken["resend"] == (202, 429) and taken["login_by_address"] == 401
    # Behind the answers: Mallory's account is real, announced to content, and unclaimable.
    with app.app_context():
        mallory = db.session.execute(
            db.select(Account).where(Account.username == "mallory")
        ).scalar_one()
        assert (mallory.email, mallory.email_verified, mallory.email_claimable) == (
            "alice@example.com",
            False,
            False,
        )
        mallory_id = mallory.id
    created = {
        e.body["data"]["account_id"]: e.body for e in events(app) if e.type == "account.created"
    }
    assert created[mallory_id]["data"]["email"] == "alice@example.com"
    assert len(created) == 3  # Alice, Mallory and Bob: content makes each a profile
    assert len({frozenset(body["data"]) for body in created.values()}) == 1
    # Alice's mailbox got her notice, Bob's his links; Mallory's registration mailed no link.
    to_alice = [m["type"] for m in mails(app) if m["to"] == "alice@example.com"]
    assert to_alice == ["mail.verify", "mail.register_attempt"]
    assert [m["type"] for m in mails(app) if m["to"] == "bob@example.com"] == [
        "mail.verify",
        "mail.verify",
    ]


def test_the_address_logs_in_only_its_verified_holder(client, owner):
    register_as(client, "mallory", "alice@example.com", OTHER)
    assert login_as(client, "alice@example.com", OTHER).status_code == 401
    assert login_as(client, "alice@example.com", PASSWORD).status_code == 200
    assert login_as(client, "mallory", OTHER).status_code == 200


def test_a_reset_reaches_only_the_holder(app, client, owner):
    register_as(client, "mallory", "alice@example.com", OTHER)
    forgot(client, "alice@example.com")
    (mail,) = mails(app, "mail.reset")
    assert "Hello alice," in mail["text"]
    done = client.post(
        "/auth/password/reset", json={"token": reset_token(app), "new_password": "x" + OTHER}
    )
    assert done.status_code == 204
    assert login_as(client, "alice", "x" + OTHER).status_code == 200
    assert login_as(client, "mallory", OTHER).status_code == 200  # untouched


def test_the_first_of_two_unverified_accounts_to_verify_wins(app, client):
    register_as(client, "alice", "shared@example.com")
    register_as(client, "bob", "shared@example.com")
    first, second = (link_token(m) for m in mails(app, "mail.verify"))
    won = client.post("/auth/email/verify", json={"token": second})
    assert won.status_code == 200 and won.get_json()["username"] == "bob"
    lost = client.post("/auth/email/verify", json={"token": first})
    assert lost.status_code == 422
    with app.app_context():
        rows = db.session.execute(
            db.select(Account.username, Account.email_verified, Account.email_claimable).order_by(
                Account.id
            )
        ).all()
    assert [tuple(row) for row in rows] == [("alice", False, True), ("bob", True, True)]
    # Alice's resend now mails nothing: the address is Bob's.
    headers = bearer(login_as(client, "alice").get_json()["access_token"])
    assert client.post("/auth/email/verify/resend", headers=headers).status_code == 202
    assert len(mails(app, "mail.verify")) == 2


def test_a_reset_link_of_the_loser_stops_working(app, client):
    register_as(client, "alice", "shared@example.com")
    register_as(client, "bob", "shared@example.com")
    forgot(client, "shared@example.com")
    (mail,) = mails(app, "mail.reset")
    assert "Hello alice," in mail["text"]  # the oldest account that may claim it
    verify(app, client, "shared@example.com")  # Bob's link is the latest to that address
    late = client.post(
        "/auth/password/reset", json={"token": reset_token(app), "new_password": "x" + OTHER}
    )
    assert late.status_code == 422
    assert login_as(client, "alice", PASSWORD).status_code == 200  # password unchanged


def test_a_reset_verifies_the_address_for_its_account(app, client):
    register_as(client, "alice", "shared@example.com")
    register_as(client, "bob", "shared@example.com")
    forgot(client, "shared@example.com")
    done = client.post(
        "/auth/password/reset", json={"token": reset_token(app), "new_password": "x" + OTHER}
    )
    assert done.status_code == 204
    bobs_link = link_token(mails(app, "mail.verify")[1])
    assert client.post("/auth/email/verify", json={"token": bobs_link}).status_code == 422
    assert login_as(client, "shared@example.com", "x" + OTHER).status_code == 200


def test_an_admin_from_the_command_line_takes_an_unverified_address(app, client):
    register_as(client, "squatter", "root@example.com")
    result = app.test_cli_runner().invoke(
        args=["create-admin", "--username", "root", "--email", "root@example.com"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert login_as(client, "root@example.com").get_json()["access_token"]
    squatters_link = link_token(mails(app, "mail.verify")[0])
    assert client.post("/auth/email/verify", json={"token": squatters_link}).status_code == 422
