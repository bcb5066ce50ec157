"""Registering OAuth clients through the admin API and the create-client command."""

from __future__ import annotations

import pytest

from auth_service.extensions import db
from auth_service.oauth_models import OAuthClient


def registered() -> list[str]:
    """Client ids in the database but auth's own relay's (registered at start)."""
    query = db.select(OAuthClient.client_id).where(OAuthClient.client_id != "auth-relay")
    rows = db.session.execute(query)
    return list(rows.scalars())


def test_an_admin_registers_a_confidential_client_and_sees_its_secret_once(
    app, client, admin_headers
):
    response = client.post(
        "/auth/clients",
        json={"name": "Reports", "grant_types": ["client_credentials"], "scope": "profile"},
        headers=admin_headers,
    )
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["client_secret"] and created["public"] is False
    assert response.headers["Location"].endswith(f"/auth/clients/{created['client_id']}")
    shown = client.get(response.headers["Location"], headers=admin_headers).get_json()
    assert "client_secret" not in shown and shown["name"] == "Reports"
    with app.app_context():
        stored = db.session.get(OAuthClient, created["client_id"])
        assert created["client_secret"] not in (stored.secret_hash or "")
    listed = client.get("/auth/clients", headers=admin_headers).get_json()
    # Beside auth's own relay, registered at start.
    assert [c["client_id"] for c in listed] == ["auth-relay", created["client_id"]]


def test_a_public_client_has_no_secret(client, admin_headers):
    response = client.post(
        "/auth/clients",
        json={"name": "Spa", "public": True, "redirect_uris": ["https://spa.example/cb"]},
        headers=admin_headers,
    )
    assert response.status_code == 201
    assert response.get_json()["public"] is True
    assert response.get_json().get("client_secret") is None


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"name": "x", "redirect_uris": ["http://evil.example/cb"]}, id="plain http"),
        pytest.param({"name": "x", "redirect_uris": ["https://a.example/cb#f"]}, id="fragment"),
        pytest.param({"name": "x", "redirect_uris": ["/cb"]}, id="relative"),
        pytest.param({"name": "x"}, id="code grant without a redirect URI"),
        pytest.param(
            {"name": "x", "public": True, "grant_types": ["client_credentials"]},
            id="public client with client credentials",
        ),
        pytest.param(
            {"name": "x", "grant_types": ["client_credentials"], "scope": "events:write"},
            id="a scope only auth's relay holds",
        ),
        pytest.param({"name": "x", "grant_types": ["implicit"]}, id="implicit grant"),
        pytest.param({"name": "x", "client_id": "mine"}, id="choosing its own id"),
    ],
)
def test_bad_registrations_are_422_and_create_nothing(app, client, admin_headers, body):
    response = client.post("/auth/clients", json=body, headers=admin_headers)
    assert response.status_code == 422, response.get_json()
    assert response.headers["Content-Type"].startswith("application/problem+json")
    with app.app_context():
        assert registered() == []


def test_only_admins_register_clients(app, client, register, login):
    register()
    headers = {"Authorization": f"Bearer {login()['access_token']}"}
    response = client.post(
        "/auth/clients", json={"name": "x", "grant_types": ["client_credentials"]}, headers=headers
    )
    assert response.status_code == 403
    with app.app_context():
        assert registered() == []


def test_deleting_a_client(app, client, admin_headers):
    created = client.post(
        "/auth/clients",
        json={"name": "x", "grant_types": ["client_credentials"]},
        headers=admin_headers,
    ).get_json()
    url = f"/auth/clients/{created['client_id']}"
    assert client.delete(url, headers=admin_headers).status_code == 204
    assert client.get(url, headers=admin_headers).status_code == 404
    with app.app_context():
        assert db.session.get(OAuthClient, created["client_id"]) is None


def test_the_command_refuses_a_bad_redirect_uri(app):
    result = app.test_cli_runner().invoke(
        args=["create-client", "--name", "x", "--redirect-uri", "http://evil.example/cb"]
    )
    assert result.exit_code != 0
    assert "https" in result.output
