"""The users projection: auth's account events, accepted from auth only, applied once each."""

from __future__ import annotations

import uuid

import pytest


def test_created_event_makes_a_profile_with_the_account_id(client, send_event):
    response = send_event("account.created", 41, username="ann", email="ann@example.com")
    assert response.status_code == 200
    assert response.get_json()["status"] == "applied"
    profile = client.get("/api/users/41").get_json()
    assert profile["id"] == 41
    assert profile["username"] == "ann"
    assert profile["display_name"] == ""
    assert profile["bio"] == ""
    assert "email" not in profile


def test_repeated_event_changes_nothing(client, send_event, auth_headers):
    event_id = str(uuid.uuid4())
    assert send_event("account.created", 1, event_id, username="alice").status_code == 200
    client.patch("/api/users/1", json={"bio": "hello"}, headers=auth_headers)
    before = client.get("/api/users/1")
    again = send_event("account.created", 1, event_id, username="renamed")
    assert again.status_code == 200
    assert again.get_json()["status"] == "duplicate"
    after = client.get("/api/users/1")
    assert after.get_json() == before.get_json()
    assert after.headers["ETag"] == before.headers["ETag"]
    assert client.get("/api/users").headers["X-Total-Count"] == "1"


def test_updated_event_changes_username_and_email(client, send_event, create_account, tokens):
    create_account(5, "bob", "bob@example.com")
    assert (
        send_event("account.updated", 5, username="robert", email="r@example.com").status_code
        == 200
    )
    own = client.get("/api/users/5", headers=tokens.bearer(5, "robert")).get_json()
    assert (own["username"], own["email"]) == ("robert", "r@example.com")


def test_update_before_create_still_makes_the_profile(client, send_event):
    assert send_event("account.updated", 6, username="eve").status_code == 200
    assert client.get("/api/users/6").get_json()["username"] == "eve"


def test_deleted_event_removes_profile_posts_and_items(client, create_account, send_event, tokens):
    create_account(7, "carol")
    create_account(8, "dave")
    carol, dave = tokens.bearer(7, "carol"), tokens.bearer(8, "dave")
    for headers in (carol, carol, dave):
        assert (
            client.post(
                "/api/posts", json={"title": "t", "content": "c"}, headers=headers
            ).status_code
            == 201
        )
        assert (
            client.post("/api/items", json={"name": "n", "price": 1}, headers=headers).status_code
            == 201
        )
    event_id = str(uuid.uuid4())
    assert send_event("account.deleted", 7, event_id).status_code == 200
    assert client.get("/api/users/7").status_code == 404
    posts = client.get("/api/posts")
    assert [p["author"] for p in posts.get_json()] == ["dave"]
    assert posts.headers["X-Total-Count"] == "1"
    items = client.get("/api/items")
    assert [i["owner_id"] for i in items.get_json()] == [8]
    assert items.headers["X-Total-Count"] == "1"
    assert client.get("/api/users").headers["X-Total-Count"] == "1"
    # Replayed, the delete is a no-op; a late create does not bring the profile back.
    assert send_event("account.deleted", 7, event_id).get_json()["status"] == "duplicate"
    assert send_event("account.created", 7, username="carol").get_json()["status"] == "ignored"
    assert client.get("/api/users/7").status_code == 404
    # Nor does a still-unexpired token of the deleted account.
    assert (
        client.post("/api/posts", json={"title": "t", "content": "c"}, headers=carol).status_code
        == 403
    )


def test_deleting_an_unknown_account_is_fine(send_event):
    assert send_event("account.deleted", 999).status_code == 200


def test_events_need_a_token(client):
    response = client.post("/internal/events", json={})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "make_headers",
    [
        pytest.param(lambda t: t.bearer(1, "alice"), id="user access token"),
        pytest.param(lambda t: t.bearer(1, "root", roles=["admin"]), id="admin access token"),
    ],
)
def test_events_refuse_user_tokens(client, tokens, make_headers, create_account):
    create_account(1, "alice")
    body = {
        "id": "x",
        "type": "account.deleted",
        "occurred_at": "2026-01-01T00:00:00Z",
        "data": {"account_id": 1},
    }
    response = client.post("/internal/events", json=body, headers=make_headers(tokens))
    assert response.status_code == 403
    assert client.get("/api/users/1").status_code == 200  # the account was not deleted


@pytest.mark.parametrize(
    ("token", "status"),
    [
        pytest.param(lambda t: t.relay_token(client_id="another-client"), 403, id="another client"),
        pytest.param(lambda t: t.relay_token(scope="profile"), 403, id="without events:write"),
        pytest.param(
            lambda t: t.token(0, sub="auth-relay", client_id="auth-relay", type="refresh"),
            401,
            id="refresh token of the relay",
        ),
        pytest.param(
            lambda t: t.token(0, sub="auth-relay", client_id="auth-relay", headers={"typ": "JWT"}),
            401,
            id="not typed at+jwt",
        ),
    ],
)
def test_events_refuse_other_credentials(client, tokens, token, status, create_account):
    create_account(1, "alice")
    body = {
        "id": "x",
        "type": "account.deleted",
        "occurred_at": "2026-01-01T00:00:00Z",
        "data": {"account_id": 1},
    }
    response = client.post(
        "/internal/events", json=body, headers={"Authorization": f"Bearer {token(tokens)}"}
    )
    assert response.status_code == status
    assert client.get("/api/users/1").status_code == 200  # the account was not deleted


def test_events_without_scope_say_insufficient_scope(client, tokens):
    token = tokens.relay_token(scope="profile")
    response = client.post(
        "/internal/events", json={}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_events_refuse_a_forged_service_token(client):
    from shared.testing import TokenFactory

    forged = TokenFactory().relay_token()
    body = {
        "id": "x",
        "type": "account.deleted",
        "occurred_at": "2026-01-01T00:00:00Z",
        "data": {"account_id": 1},
    }
    response = client.post(
        "/internal/events", json=body, headers={"Authorization": f"Bearer {forged}"}
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {
                "type": "account.created",
                "occurred_at": "2026-01-01T00:00:00Z",
                "data": {"account_id": 1, "username": "a", "email": "a@x"},
            },
            "id",
        ),
        (
            {
                "id": "e",
                "type": "account.renamed",
                "occurred_at": "2026-01-01T00:00:00Z",
                "data": {"account_id": 1},
            },
            "type",
        ),
        (
            {
                "id": "e",
                "type": "account.created",
                "occurred_at": "2026-01-01T00:00:00Z",
                "data": {"account_id": 1, "email": "a@x"},
            },
            "data.username",
        ),
        (
            {
                "id": "e",
                "type": "account.deleted",
                "occurred_at": "2026-01-01T00:00:00Z",
                "data": {},
            },
            "data.account_id",
        ),
        (
            {
                "id": "e",
                "type": "account.deleted",
                "occurred_at": "yesterday",
                "data": {"account_id": 1},
            },
            "occurred_at",
        ),
    ],
)
def test_malformed_events_are_422(client, service_headers, body, field):
    response = client.post("/internal/events", json=body, headers=service_headers)
    assert response.status_code == 422
    assert field in [e["field"] for e in response.get_json()["errors"]]


def test_a_first_post_before_the_event_creates_the_profile(client, tokens, send_event):
    headers = tokens.bearer(9, "early")
    assert (
        client.post("/api/posts", json={"title": "t", "content": "c"}, headers=headers).status_code
        == 201
    )
    assert client.get("/api/users/9").get_json()["username"] == "early"
    assert send_event("account.created", 9, username="early", email="e@x.org").status_code == 200
    assert client.get("/api/users/9", headers=headers).get_json()["email"] == "e@x.org"
    assert client.get("/api/users").headers["X-Total-Count"] == "1"
