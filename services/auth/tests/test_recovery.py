"""Password reset by mail: the same answer for any address, a single-use 30-minute link."""

from __future__ import annotations

import re

import pytest
from conftest import PASSWORD, bearer
from test_verification import mails

from auth_service import account_tokens

NEW = "a brand new passphrase"


def forgot(client, email: str):
    """Ask for a link; closing the answer, as a server does, runs what follows it."""
    response = client.post("/auth/password/forgot", json={"email": email})
    response.close()
    return response


def reset_token(app) -> str:
    (mail,) = mails(app, "mail.reset")
    match = re.search(r"/auth/web/reset\?token=([A-Za-z0-9_-]+)", mail["text"])
    assert match, mail["text"]
    return match.group(1)


def test_known_and_unknown_addresses_get_the_same_answer(app, client, register):
    register()
    known = forgot(client, "ALICE@example.com")
    unknown = forgot(client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 202
    assert known.get_data() == unknown.get_data() == b""
    assert [m["to"] for m in mails(app, "mail.reset")] == ["alice@example.com"]


def test_a_reset_link_sets_the_password_once_and_ends_every_session(app, client, register, login):
    register()
    sessions = [login(), login()]
    forgot(client, "alice@example.com")
    token = reset_token(app)
    done = client.post("/auth/password/reset", json={"token": token, "new_password": NEW})
    assert done.status_code == 204
    for pair in sessions:
        assert client.get("/auth/me", headers=bearer(pair["access_token"])).status_code == 401
        assert (
            client.post("/auth/refresh", headers=bearer(pair["refresh_token"])).status_code == 401
        )
    assert (
        client.post("/auth/login", json={"username": "alice", "password": PASSWORD}).status_code
        == 401
    )
    pair = login(password=NEW)
    me = client.get("/auth/me", headers=bearer(pair["access_token"])).get_json()
    assert me["email_verified"] is True  # the link proved the address
    assert [m["to"] for m in mails(app, "mail.password_changed")] == ["alice@example.com"]
    again = client.post("/auth/password/reset", json={"token": token, "new_password": "x" + NEW})
    assert again.status_code == 422
    assert again.get_json()["errors"][0]["field"] == "token"
    login(password=NEW)  # unchanged by the refused second use


def test_a_reset_link_expires_after_thirty_minutes(app, client, register, monkeypatch):
    register()
    forgot(client, "alice@example.com")
    token = reset_token(app)
    assert app.config["PASSWORD_RESET_TOKEN_MINUTES"] == 30
    later = account_tokens.now() + 30 * 60 + 1
    monkeypatch.setattr(account_tokens, "now", lambda: later)
    response = client.post("/auth/password/reset", json={"token": token, "new_password": NEW})
    assert response.status_code == 422


def test_a_password_change_retires_a_reset_link(app, client, register, login):
    register()
    forgot(client, "alice@example.com")
    token = reset_token(app)
    client.put(
        "/auth/me/password",
        json={"current_password": PASSWORD, "new_password": "another fine phrase"},
        headers=bearer(login()["access_token"]),
    )
    response = client.post("/auth/password/reset", json={"token": token, "new_password": NEW})
    assert response.status_code == 422
    login(password="another fine phrase")


def test_asking_again_at_once_mails_nothing_more(app, client, register):
    register()
    for _ in range(3):
        assert forgot(client, "alice@example.com").status_code == 202
    assert len(mails(app, "mail.reset")) == 1


@pytest.mark.parametrize("new_password", ["short", "password"])
def test_the_new_password_follows_the_usual_policy(app, client, register, new_password):
    register()
    forgot(client, "alice@example.com")
    token = reset_token(app)
    response = client.post(
        "/auth/password/reset", json={"token": token, "new_password": new_password}
    )
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "new_password"
    # The link was not used up by a refused password.
    assert (
        client.post("/auth/password/reset", json={"token": token, "new_password": NEW}).status_code
        == 204
    )
