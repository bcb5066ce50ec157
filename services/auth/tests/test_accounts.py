"""Registration and reading your own account."""

from __future__ import annotations

import pytest
from conftest import PASSWORD, bearer


def test_register_returns_the_account(client):
    response = client.post(
        "/auth/register",
        json={"username": "Alice", "email": "Alice@Example.com", "password": "correct horse"},
    )
    assert response.status_code == 201
    account = response.get_json()
    assert account["username"] == "Alice"
    assert account["email"] == "alice@example.com"
    assert account["roles"] == []
    assert set(account) == {
        "id",
        "username",
        "email",
        "email_verified",
        "totp_enabled",
        "roles",
        "created_at",
    }
    assert account["email_verified"] is False
    assert "password" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("username", "email"),
    [("alice", "other@example.com"), ("ALICE", "other@example.com")],
)
def test_register_conflicts(client, register, username, email):
    register("alice")
    response = client.post(
        "/auth/register", json={"username": username, "email": email, "password": "long enough"}
    )
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "ab", "email": "a@example.com", "password": "long enough"}, "username"),
        ({"username": "a b c", "email": "a@example.com", "password": "long enough"}, "username"),
        ({"username": "abc", "email": "not-an-email", "password": "long enough"}, "email"),
        ({"username": "abc", "email": "a@example.com", "password": "short"}, "password"),
        ({"username": "abc", "email": "a@example.com", "password": "x" * 129}, "password"),
        ({"username": "abc", "email": "a@example.com"}, "password"),
        (
            {
                "username": "abc",
                "email": "a@example.com",
                "password": "long enough",
                "roles": ["admin"],
            },
            "roles",
        ),
    ],
)
def test_register_validation(client, body, field):
    response = client.post("/auth/register", json=body)
    assert response.status_code == 422
    assert field in [e["field"] for e in response.get_json()["errors"]]


def test_me_needs_a_valid_access_token(client, register, login):
    register()
    pair = login()
    me = client.get("/auth/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 200
    assert me.get_json()["username"] == "alice"
    assert client.get("/auth/me").status_code == 401
    refresh_as_access = {"Authorization": f"Bearer {pair['refresh_token']}"}
    assert client.get("/auth/me", headers=refresh_as_access).status_code == 401


def test_me_carries_an_etag(client, register, login):
    register()
    headers = bearer(login()["access_token"])
    first = client.get("/auth/me", headers=headers)
    assert first.headers["ETag"]
    again = client.get("/auth/me", headers={**headers, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


def test_password_change_revokes_the_other_sessions_only(client, register, login):
    register()
    here, elsewhere = login(), login()
    response = client.put(
        "/auth/me/password",
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
        headers=bearer(here["access_token"]),
    )
    assert response.status_code == 204
    assert client.get("/auth/me", headers=bearer(elsewhere["access_token"])).status_code == 401
    assert (
        client.post("/auth/refresh", headers=bearer(elsewhere["refresh_token"])).status_code == 401
    )
    assert client.get("/auth/me", headers=bearer(here["access_token"])).status_code == 200
    assert client.post("/auth/refresh", headers=bearer(here["refresh_token"])).status_code == 200
    assert (
        client.post("/auth/login", json={"username": "alice", "password": PASSWORD}).status_code
        == 401
    )
    login(password="a brand new passphrase")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"current_password": "wrong password", "new_password": "a brand new passphrase"}, 401),
        ({"current_password": PASSWORD, "new_password": "short"}, 422),
        ({"current_password": PASSWORD, "new_password": "password123"}, 422),
        ({"new_password": "a brand new passphrase"}, 422),
        ({"current_password": PASSWORD, "new_password": "a brand new one", "x": 1}, 422),
    ],
)
def test_password_change_failures(client, register, login, body, status):
    register()
    headers = bearer(login()["access_token"])
    response = client.put("/auth/me/password", json=body, headers=headers)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    login()  # the password is unchanged


def test_delete_me_needs_the_password_and_revokes_everything(app, client, register, login):
    account = register()
    pair, other = login(), login()
    headers = bearer(pair["access_token"])
    assert (
        client.delete("/auth/me", json={"password": "wrong password"}, headers=headers).status_code
        == 401
    )
    assert client.delete("/auth/me", headers=headers).status_code == 415
    assert client.delete("/auth/me", json={}, headers=headers).status_code == 422
    assert (
        client.delete("/auth/me", json={"password": PASSWORD}, headers=headers).status_code == 204
    )
    for token in (pair["access_token"], other["access_token"]):
        assert client.get("/auth/me", headers=bearer(token)).status_code == 401
    assert client.post("/auth/refresh", headers=bearer(other["refresh_token"])).status_code == 401
    assert (
        client.post("/auth/login", json={"username": "alice", "password": PASSWORD}).status_code
        == 401
    )
    # The name is free again, and the id is never handed out twice.
    assert register()["id"] != account["id"]


def test_a_deleted_account_id_is_never_given_again(client, register, login):
    """Regression: SQLite reused the highest id, so a new account could inherit the id that
    a deleted account's tokens, revocation marks and content rows still name."""
    register("alice")
    bob = register("bob")
    headers = bearer(login("bob")["access_token"])
    gone = client.delete("/auth/me", json={"password": PASSWORD}, headers=headers)
    assert gone.status_code == 204
    carol = register("carol")
    assert carol["id"] > bob["id"]


def test_answers_about_the_caller_are_never_stored(client, register, login):
    """Regression: /auth/me carried no Cache-Control and no Vary: Cookie."""
    register()
    pair = login()
    for headers in (bearer(pair["access_token"]), {}):
        if not headers:
            client.set_cookie("access_token_cookie", pair["access_token"])
        response = client.get("/auth/me", headers=headers)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"
        assert "Cookie" in response.headers["Vary"]
    logout = client.post("/auth/logout", headers=bearer(pair["access_token"]))
    assert logout.status_code == 204
    assert "Content-Type" not in logout.headers
