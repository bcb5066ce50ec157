"""Registration without enumeration, and e-mail verification by a single-use mailed link."""

from __future__ import annotations

import re

import jwt
import pytest
from conftest import PASSWORD, bearer

from auth_service import account_tokens
from auth_service.extensions import db
from auth_service.models import Account, AccountToken, OutboxEvent


def mails(app, kind: str | None = None) -> list[dict]:
    with app.app_context():
        query = db.select(OutboxEvent).where(OutboxEvent.channel == "mail")
        rows = db.session.execute(query.order_by(OutboxEvent.seq)).scalars()
        return [{"type": row.type, **row.body} for row in rows if kind is None or row.type == kind]


def link_token(mail: dict) -> str:
    match = re.search(r"/auth/web/verify\?token=([A-Za-z0-9_-]+)", mail["text"])
    assert match, mail["text"]
    return match.group(1)


def verify(app, client, to: str) -> None:
    """Follow the latest verification link mailed to `to`."""
    (*_, mail) = [m for m in mails(app, "mail.verify") if m["to"] == to]
    assert client.post("/auth/email/verify", json={"token": link_token(mail)}).status_code == 200


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_registering_mails_a_link_that_verifies_once(app, client, register, login):
    account = register()
    assert account["email_verified"] is False
    assert claims(login()["access_token"])["email_verified"] is False
    (mail,) = mails(app, "mail.verify")
    assert mail["to"] == "alice@example.com"
    assert mail["text"].count("http://127.0.0.1:8000/auth/web/verify?token=") == 1
    token = link_token(mail)

    verified = client.post("/auth/email/verify", json={"token": token})
    assert verified.status_code == 200
    assert verified.get_json()["email_verified"] is True
    pair = login()
    assert claims(pair["access_token"])["email_verified"] is True
    assert client.get("/auth/me", headers=bearer(pair["access_token"])).get_json()["email_verified"]
    again = client.post("/auth/email/verify", json={"token": token})
    assert again.status_code == 422
    assert again.get_json()["errors"][0]["field"] == "token"


def test_only_a_keyed_hash_of_the_link_is_stored(app, register):
    register()
    token = link_token(mails(app, "mail.verify")[0])
    with app.app_context():
        (row,) = db.session.execute(db.select(AccountToken)).scalars()
        assert token not in (row.token_hash, row.email)
        assert len(row.token_hash) == 64


@pytest.mark.parametrize("token", ["", "x" * 30, "a" * 201, 5])
def test_made_up_tokens_verify_nothing(app, client, register, token):
    register()
    response = client.post("/auth/email/verify", json={"token": token})
    assert response.status_code == 422
    with app.app_context():
        assert not db.session.execute(db.select(Account)).scalar_one().email_verified


def test_a_link_expires(app, client, register, monkeypatch):
    register()
    token = link_token(mails(app, "mail.verify")[0])
    later = account_tokens.now() + app.config["EMAIL_TOKEN_MINUTES"] * 60 + 1
    monkeypatch.setattr(account_tokens, "now", lambda: later)
    assert client.post("/auth/email/verify", json={"token": token}).status_code == 422


def test_a_password_change_retires_mailed_links(app, client, register, login):
    register()
    token = link_token(mails(app, "mail.verify")[0])
    headers = bearer(login()["access_token"])
    changed = client.put(
        "/auth/me/password",
        json={"current_password": PASSWORD, "new_password": "another fine phrase"},
        headers=headers,
    )
    assert changed.status_code == 204
    assert [m["to"] for m in mails(app, "mail.password_changed")] == ["alice@example.com"]
    assert client.post("/auth/email/verify", json={"token": token}).status_code == 422


def test_resend_replaces_the_link_and_is_throttled(app, client, register, login):
    register()
    first = link_token(mails(app, "mail.verify")[0])
    headers = bearer(login()["access_token"])
    assert client.post("/auth/email/verify/resend", headers=headers).status_code == 202
    second = link_token(mails(app, "mail.verify")[1])
    too_soon = client.post("/auth/email/verify/resend", headers=headers)
    assert too_soon.status_code == 429
    assert int(too_soon.headers["Retry-After"]) >= 1
    assert len(mails(app, "mail.verify")) == 2  # no third mail
    assert client.post("/auth/email/verify", json={"token": first}).status_code == 422
    assert client.post("/auth/email/verify", json={"token": second}).status_code == 200
    assert client.post("/auth/email/verify/resend", headers=headers).status_code == 409
    assert client.post("/auth/email/verify/resend").status_code == 401


def test_a_taken_address_gets_the_same_answer_and_its_owner_a_mail(app, client, register):
    owner = register("alice")
    verify(app, client, owner["email"])
    response = client.post(
        "/auth/register",
        json={"username": "mallory", "email": "ALICE@example.com", "password": PASSWORD},
    )
    fresh = client.post(
        "/auth/register",
        json={"username": "bob", "email": "bob@example.com", "password": PASSWORD},
    )
    assert response.status_code == fresh.status_code == 201
    assert response.headers["Location"] == fresh.headers["Location"]
    body = response.get_json()
    assert set(body) == set(fresh.get_json())
    assert body["username"] == "mallory" and body["email"] == "alice@example.com"
    assert body["email_verified"] is False and body["roles"] == []
    assert body["id"] < fresh.get_json()["id"]  # a real account, with an id of its own
    with app.app_context():
        mallory = db.session.execute(
            db.select(Account).where(Account.username == "mallory")
        ).scalar_one()
        assert mallory.email_claimable is False
    (notice,) = mails(app, "mail.register_attempt")
    assert notice["to"] == owner["email"]
    assert "mallory" in notice["text"] and "/auth/web/forgot" in notice["text"]
    assert [m["to"] for m in mails(app, "mail.verify")] == ["alice@example.com", "bob@example.com"]
    # A second try within the throttle mails nothing more, and still answers the same.
    again = client.post(
        "/auth/register",
        json={"username": "mallory2", "email": "alice@example.com", "password": PASSWORD},
    )
    assert again.status_code == 201
    assert len(mails(app, "mail.register_attempt")) == 1


def test_a_taken_username_still_conflicts(client, register):
    register("alice")
    response = client.post(
        "/auth/register",
        json={"username": "Alice", "email": "new@example.com", "password": PASSWORD},
    )
    assert response.status_code == 409
    assert response.get_json()["detail"] == "That username is already taken."


def test_unverified_accounts_may_be_kept_from_logging_in(make_app, redis_server):
    redis_server.flushall()
    app = make_app(ALLOW_UNVERIFIED_LOGIN=False)
    client = app.test_client()
    client.post(
        "/auth/register",
        json={"username": "alice", "email": "alice@example.com", "password": PASSWORD},
    )
    body = {"username": "alice", "password": PASSWORD}
    refused = client.post("/auth/login", json=body)
    assert refused.status_code == 403
    assert "Confirm your e-mail" in refused.get_json()["detail"]
    # A wrong password still gets the ordinary 401: the 403 needs the password.
    wrong = client.post("/auth/login", json={**body, "password": "wrong password"})
    assert wrong.status_code == 401
    token = link_token(mails(app, "mail.verify")[0])
    assert client.post("/auth/email/verify", json={"token": token}).status_code == 200
    assert client.post("/auth/login", json=body).status_code == 200


def test_create_admin_accounts_are_verified(admin_headers, client):
    assert client.get("/auth/me", headers=admin_headers).get_json()["email_verified"] is True
