"""Changing the e-mail address: confirmed at the new address, a notice to the old one."""

from __future__ import annotations

from conftest import PASSWORD, bearer
from test_verification import link_token, mails, verify


def ask(client, headers, new_email: str, password: str = PASSWORD):
    return client.put(
        "/auth/me/email", json={"new_email": new_email, "password": password}, headers=headers
    )


def test_the_address_changes_only_when_the_new_one_confirms(app, client, register, login):
    register()
    headers = bearer(login()["access_token"])
    assert ask(client, headers, "Alice.New@example.com").status_code == 202
    assert client.get("/auth/me", headers=headers).get_json()["email"] == "alice@example.com"
    (confirm,) = mails(app, "mail.email_change")
    (notice,) = mails(app, "mail.email_change_notice")
    assert confirm["to"] == "alice.new@example.com"
    assert notice["to"] == "alice@example.com" and "alice.new@example.com" in notice["text"]
    done = client.post("/auth/email/verify", json={"token": link_token(confirm)})
    assert done.status_code == 200
    assert done.get_json()["email"] == "alice.new@example.com"
    assert done.get_json()["email_verified"] is True
    assert client.post("/auth/email/verify", json={"token": link_token(confirm)}).status_code == 422
    # The account event carries the new address to content.
    from test_outbox import events

    assert events(app)[-1].type == "account.updated"
    assert events(app)[-1].body["data"]["email"] == "alice.new@example.com"


def test_the_password_is_required(app, client, register, login):
    register()
    headers = bearer(login()["access_token"])
    assert ask(client, headers, "new@example.com", "wrong password").status_code == 401
    assert mails(app, "mail.email_change") == []


def test_another_accounts_address_gets_the_same_answer_and_no_link(app, client, register, login):
    register("alice")
    register("bob")
    verify(app, client, "bob@example.com")
    headers = bearer(login("alice")["access_token"])
    assert ask(client, headers, "bob@example.com").status_code == 202
    assert mails(app, "mail.email_change") == []


def test_an_unverified_address_goes_to_whoever_confirms_it_first(app, client, register, login):
    """Nobody holds an address before verifying it: a squatter cannot keep its owner out."""
    register("alice")
    register("bob")
    headers = bearer(login("alice")["access_token"])
    assert ask(client, headers, "bob@example.com").status_code == 202
    (confirm,) = mails(app, "mail.email_change")
    assert confirm["to"] == "bob@example.com"
    moved = client.post("/auth/email/verify", json={"token": link_token(confirm)})
    assert moved.status_code == 200 and moved.get_json()["email"] == "bob@example.com"
    # Bob's own link, mailed at registration, lost the race.
    (bobs,) = [m for m in mails(app, "mail.verify") if m["to"] == "bob@example.com"]
    assert client.post("/auth/email/verify", json={"token": link_token(bobs)}).status_code == 422
    bob = client.get("/auth/me", headers=bearer(login("bob")["access_token"])).get_json()
    assert bob["email"] == "bob@example.com" and bob["email_verified"] is False


def test_a_change_link_loses_to_an_earlier_verification(app, client, register, login):
    register("alice")
    register("bob")
    headers = bearer(login("alice")["access_token"])
    ask(client, headers, "bob@example.com")
    verify(app, client, "bob@example.com")
    (confirm,) = mails(app, "mail.email_change")
    late = client.post("/auth/email/verify", json={"token": link_token(confirm)})
    assert late.status_code == 409
    assert client.get("/auth/me", headers=headers).get_json()["email"] == "alice@example.com"


def test_an_old_verification_link_does_not_verify_a_moved_address(app, client, register, login):
    register()
    old_link = link_token(mails(app, "mail.verify")[0])
    headers = bearer(login()["access_token"])
    ask(client, headers, "moved@example.com")
    client.post(
        "/auth/email/verify", json={"token": link_token(mails(app, "mail.email_change")[0])}
    )
    assert client.post("/auth/email/verify", json={"token": old_link}).status_code == 422
