"""Registration and reading your own account."""

from __future__ import annotations

import pytest


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
    assert set(account) == {"id", "username", "email", "roles", "created_at"}
    assert "password" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("username", "email"),
    [("alice", "other@example.com"), ("ALICE", "other@example.com"), ("bob", "ALICE@example.com")],
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
