"""Profiles: public reads, email only to the user and admins, edits by the user or an admin."""

from __future__ import annotations

import pytest


@pytest.fixture
def alice(create_account):
    create_account(1, "alice", "alice@example.com")
    return 1


def test_email_only_to_the_user_and_admins(client, alice, tokens):
    assert "email" not in client.get("/api/users/1").get_json()
    assert "email" not in client.get("/api/users/1", headers=tokens.bearer(2, "bob")).get_json()
    assert client.get("/api/users/1", headers=tokens.bearer(1, "alice")).get_json()["email"] == (
        "alice@example.com"
    )
    admin = tokens.bearer(3, "root", roles=["admin"])
    assert client.get("/api/users/1", headers=admin).get_json()["email"] == "alice@example.com"
    listed = client.get("/api/users", headers=tokens.bearer(2, "bob")).get_json()
    assert all("email" not in u for u in listed)
    listed = client.get("/api/users", headers=admin).get_json()
    assert listed[0]["email"] == "alice@example.com"
    # The email depends on the token or the access cookie: a cache keys on both.
    assert client.get("/api/users/1").headers["Vary"] == "Authorization, Cookie"


def test_views_with_and_without_email_have_different_etags(client, alice, tokens):
    public = client.get("/api/users/1").headers["ETag"]
    private = client.get("/api/users/1", headers=tokens.bearer(1, "alice")).headers["ETag"]
    assert public != private


def test_user_edits_own_profile(client, alice, auth_headers):
    response = client.patch(
        "/api/users/1", json={"display_name": "Alice A.", "bio": "b" * 2000}, headers=auth_headers
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["display_name"] == "Alice A."
    assert body["email"] == "alice@example.com"
    assert (
        client.patch("/api/users/1", json={"display_name": ""}, headers=auth_headers).status_code
        == 200
    )
    assert client.get("/api/users/1").get_json()["display_name"] == ""


def test_admin_edits_any_profile_and_others_get_403(client, alice, tokens):
    mallory = tokens.bearer(2, "mallory")
    response = client.patch("/api/users/1", json={"bio": "pwned"}, headers=mallory)
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    assert client.get("/api/users/1").get_json()["bio"] == ""
    admin = tokens.bearer(3, "root", roles=["admin"])
    assert client.patch("/api/users/1", json={"bio": "moderated"}, headers=admin).status_code == 200
    assert client.get("/api/users/1").get_json()["bio"] == "moderated"


def test_patch_needs_a_token(client, alice):
    assert client.patch("/api/users/1", json={"bio": "x"}).status_code == 401


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"display_name": "x" * 101}, ["display_name"]),
        ({"bio": "x" * 2001}, ["bio"]),
        ({"bio": None}, ["bio"]),
        ({"display_name": 5, "bio": ["x"]}, ["display_name", "bio"]),
        ({"username": "root"}, ["username"]),
        ({"email": "x@y"}, ["email"]),
        ({"id": 2, "created_at": "2020-01-01"}, ["id", "created_at"]),
        ({"website": "x"}, ["website"]),
        ({}, [""]),
    ],
)
def test_patch_validation(client, alice, auth_headers, body, fields):
    response = client.patch("/api/users/1", json=body, headers=auth_headers)
    assert response.status_code == 422
    assert [e["field"] for e in response.get_json()["errors"]] == fields
    assert client.get("/api/users/1").get_json()["bio"] == ""


def test_unknown_user_is_404(client):
    assert client.get("/api/users/404").status_code == 404


def test_users_list_pages_and_sorts(client, create_account):
    for n, name in enumerate(["cy", "ab", "bo"], start=1):
        create_account(n, name)
    response = client.get("/api/users?sort=username&per_page=2")
    assert [u["username"] for u in response.get_json()] == ["ab", "bo"]
    assert response.headers["X-Total-Count"] == "3"
    assert 'rel="next"' in response.headers["Link"]
    assert client.get("/api/users?sort=email").status_code == 422
