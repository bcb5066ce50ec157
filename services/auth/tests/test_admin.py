"""Administration: list and update accounts, the bootstrap admin and the create-admin command."""

from __future__ import annotations

import pytest
from conftest import PASSWORD, bearer

from auth_service.extensions import db
from auth_service.models import Account, OutboxEvent
from shared.config import ConfigError


def test_only_admins_may_list_accounts(client, register, login, admin_headers):
    register()
    user_headers = bearer(login()["access_token"])
    assert client.get("/auth/accounts").status_code == 401
    forbidden = client.get("/auth/accounts", headers=user_headers)
    assert forbidden.status_code == 403
    assert forbidden.mimetype == "application/problem+json"
    listed = client.get("/auth/accounts", headers=admin_headers)
    assert listed.status_code == 200
    assert [a["username"] for a in listed.get_json()] == ["root", "alice"]
    assert listed.get_json()[0]["roles"] == ["admin"]
    assert listed.headers["X-Total-Count"] == "2"


def test_listing_pages_and_sorts(client, register, admin_headers):
    for name in ("carol", "bob", "dave"):
        register(name)
    response = client.get("/auth/accounts?per_page=2&page=2&sort=-username", headers=admin_headers)
    assert [a["username"] for a in response.get_json()] == ["carol", "bob"]
    assert response.headers["X-Total-Count"] == "4"
    assert 'rel="prev"' in response.headers["Link"] and 'rel="first"' in response.headers["Link"]
    for bad in ("page=0", "per_page=101", "per_page=x", "sort=password_hash", "page=-1"):
        assert client.get(f"/auth/accounts?{bad}", headers=admin_headers).status_code == 422


@pytest.mark.parametrize("page", ["100001", "9" * 30, "\uff11"])
def test_a_page_past_the_bound_is_a_422_not_a_500(client, admin_headers, page):
    """Regression: an unbounded page number overflowed the OFFSET and answered 500."""
    response = client.get(f"/auth/accounts?page={page}", headers=admin_headers)
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "page"


def test_disabling_an_account_revokes_its_tokens_and_blocks_login(
    client, register, login, admin_headers
):
    account = register()
    pair = login()
    url = f"/auth/accounts/{account['id']}"
    current = client.get(url, headers=admin_headers)
    assert current.get_json()["disabled"] is False
    response = client.patch(
        url,
        json={"disabled": True},
        headers={**admin_headers, "If-Match": current.headers["ETag"]},
    )
    assert response.status_code == 200
    assert response.get_json()["disabled"] is True
    assert client.get("/auth/me", headers=bearer(pair["access_token"])).status_code == 401
    assert client.post("/auth/refresh", headers=bearer(pair["refresh_token"])).status_code == 401
    refused = client.post("/auth/login", json={"username": "alice", "password": PASSWORD})
    assert refused.status_code == 401
    assert refused.get_json()["detail"] == "Invalid username or password."
    # The first ETag is stale now.
    stale = client.patch(
        url,
        json={"disabled": False},
        headers={**admin_headers, "If-Match": current.headers["ETag"]},
    )
    assert stale.status_code == 412


def test_roles_change_and_are_validated(app, client, register, login, admin_headers):
    account = register()
    old = login()
    url = f"/auth/accounts/{account['id']}"
    response = client.patch(url, json={"roles": ["editor", "admin"]}, headers=admin_headers)
    assert response.get_json()["roles"] == ["admin", "editor"]
    # Tokens with the old roles stop working; a login right away carries the new ones.
    assert client.get("/auth/me", headers=bearer(old["access_token"])).status_code == 401
    fresh = login()
    assert client.get("/auth/me", headers=bearer(fresh["access_token"])).get_json()["roles"] == [
        "admin",
        "editor",
    ]
    for body in ({"roles": "admin"}, {"roles": ["Bad Role"]}, {"disabled": "yes"}, {"id": 3}):
        assert client.patch(url, json=body, headers=admin_headers).status_code == 422
    assert client.patch("/auth/accounts/999", json={}, headers=admin_headers).status_code == 404
    with app.app_context():
        types = [e.type for e in db.session.execute(db.select(OutboxEvent)).scalars()]
    assert types.count("account.updated") == 1


def test_create_admin_command_refuses_a_weak_password(app):
    result = app.test_cli_runner().invoke(
        args=["create-admin", "--username", "root", "--email", "root@example.com"],
        input="password\npassword\n",
    )
    assert result.exit_code != 0
    assert "too common" in result.output


def test_bootstrap_admin_from_the_environment(make_app, redis_server, monkeypatch):
    monkeypatch.setenv("BOOTSTRAP_ADMIN_USERNAME", "boss")
    monkeypatch.setenv("BOOTSTRAP_ADMIN_EMAIL", "boss@example.com")
    monkeypatch.setenv("BOOTSTRAP_ADMIN_PASSWORD", PASSWORD)
    # Two workers starting side by side: both try, one account results.
    first, second = make_app(), make_app()
    for app in (first, second):
        assert app.test_client().get("/healthz").status_code == 200
    client = first.test_client()
    pair = client.post("/auth/login", json={"username": "boss", "password": PASSWORD}).get_json()
    me = client.get("/auth/me", headers=bearer(pair["access_token"])).get_json()
    assert me["roles"] == ["admin"]
    with first.app_context():
        assert db.session.query(Account).count() == 1


@pytest.mark.parametrize(
    "env",
    [
        {"BOOTSTRAP_ADMIN_USERNAME": "boss"},
        {
            "BOOTSTRAP_ADMIN_USERNAME": "boss",
            "BOOTSTRAP_ADMIN_EMAIL": "boss@example.com",
            "BOOTSTRAP_ADMIN_PASSWORD": "password",
        },
    ],
)
def test_bootstrap_admin_settings_are_checked_at_start(make_app, monkeypatch, env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError):
        make_app()


def test_the_last_admin_can_be_neither_demoted_nor_disabled(app, client, register, admin_headers):
    """Regression: an admin could remove the last admin's role, leaving nobody to manage."""
    root = client.get("/auth/me", headers=admin_headers).get_json()
    url = f"/auth/accounts/{root['id']}"
    for change in ({"roles": []}, {"disabled": True}, {"roles": ["editor"], "disabled": True}):
        refused = client.patch(url, json=change, headers=admin_headers)
        assert refused.status_code == 409, change
        assert refused.mimetype == "application/problem+json"
    with app.app_context():
        stored = db.session.get(Account, root["id"])
        assert (stored.roles, stored.disabled) == (["admin"], False)
        assert (
            db.session.execute(db.select(OutboxEvent.type)).scalars().all().count("account.updated")
            == 0
        )
    # With a second admin (a disabled one does not count), the first may step down.
    other = register("bob")
    other_url = f"/auth/accounts/{other['id']}"
    client.patch(other_url, json={"roles": ["admin"], "disabled": True}, headers=admin_headers)
    assert client.patch(url, json={"roles": []}, headers=admin_headers).status_code == 409
    client.patch(other_url, json={"disabled": False}, headers=admin_headers)
    assert client.patch(url, json={"roles": ["editor"]}, headers=admin_headers).status_code == 200


def test_the_last_admin_cannot_delete_their_own_account(app, client, register, admin_headers):
    """Deleting yourself is leaving the admins too: refused while you are the last one."""
    root = client.get("/auth/me", headers=admin_headers).get_json()
    refused = client.delete("/auth/me", json={"password": PASSWORD}, headers=admin_headers)
    assert refused.status_code == 409
    assert refused.mimetype == "application/problem+json"
    with app.app_context():
        assert db.session.get(Account, root["id"]) is not None
        assert (
            db.session.execute(db.select(OutboxEvent.type)).scalars().all().count("account.deleted")
            == 0
        )
    # Once another enabled admin exists, the first may go.
    other = register("bob")
    promoted = client.patch(
        f"/auth/accounts/{other['id']}", json={"roles": ["admin"]}, headers=admin_headers
    )
    assert promoted.status_code == 200
    gone = client.delete("/auth/me", json={"password": PASSWORD}, headers=admin_headers)
    assert gone.status_code == 204
    with app.app_context():
        assert db.session.get(Account, root["id"]) is None
