"""The RFC 6749 token endpoint: client credentials, password (first-party) and refresh grants."""

from __future__ import annotations

import base64
import hmac

import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from conftest import PASSWORD, bearer

from auth_service.extensions import db
from auth_service.models import LoginSession
from auth_service.oauth_models import OAuthClient


@pytest.fixture
def make_client(app):
    def make(*args: str) -> dict[str, str]:
        result = app.test_cli_runner().invoke(args=["create-client", "--name", "app", *args])
        assert result.exit_code == 0, result.output
        values = dict(line.split(": ", 1) for line in result.output.splitlines())
        return values

    return make


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def token_request(client, data, headers=None):
    return client.post("/auth/token", data=data, headers=headers or {})


def test_metadata_follows_rfc_8414(client, app):
    response = client.get("/auth/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    document = response.get_json()
    issuer = app.config["JWT_ISSUER"]
    assert document["issuer"] == issuer
    assert document["token_endpoint"] == f"{issuer}/token"
    assert document["jwks_uri"] == f"{issuer}/.well-known/jwks.json"
    AuthorizationServerMetadata(document).validate()


def test_create_client_stores_only_a_hash_of_the_secret(app, make_client):
    made = make_client("--grant-type", "client_credentials", "--scope", "profile")
    with app.app_context():
        stored = db.session.get(OAuthClient, made["client_id"])
        assert stored.secret_hash and made["client_secret"] not in stored.secret_hash
        assert not stored.public


def test_client_credentials_gives_an_access_token_of_the_client(client, app, make_client):
    made = make_client("--grant-type", "client_credentials", "--scope", "profile items:write")
    response = token_request(
        client,
        {"grant_type": "client_credentials", "scope": "profile admin"},
        basic(made["client_id"], made["client_secret"]),
    )
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert "refresh_token" not in body
    assert body["scope"] == "profile"  # admin is not the client's to ask for
    with app.app_context():
        from shared.auth import token_verifier

        claims = token_verifier().verify(body["access_token"])
    assert claims["sub"] == claims["client_id"] == made["client_id"]
    assert claims["scope"] == "profile"


def test_client_secret_post_works_too(client, make_client):
    made = make_client("--grant-type", "client_credentials")
    response = token_request(
        client,
        {
            "grant_type": "client_credentials",
            "client_id": made["client_id"],
            "client_secret": made["client_secret"],
        },
    )
    assert response.status_code == 200, response.get_json()


def test_a_wrong_secret_is_invalid_client_compared_in_constant_time(
    client, make_client, monkeypatch
):
    made = make_client("--grant-type", "client_credentials")
    compared = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    response = token_request(
        client, {"grant_type": "client_credentials"}, basic(made["client_id"], "wrong")
    )
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    body = response.get_json()
    assert body["error"] == "invalid_client"
    assert body["status"] == 401 and "access_token" not in body
    assert compared, "the secret was not compared with hmac.compare_digest"


def test_a_public_client_cannot_use_client_credentials(client, make_client):
    made = make_client(
        "--public", "--redirect-uri", "http://127.0.0.1:9000/cb", "--grant-type", "refresh_token"
    )
    response = token_request(
        client, {"grant_type": "client_credentials", "client_id": made["client_id"]}
    )
    assert response.status_code in (400, 401)
    assert response.get_json()["error"] == "invalid_client"
    assert "access_token" not in response.get_json()


def test_an_unknown_grant_type_is_unsupported(client):
    response = token_request(client, {"grant_type": "urn:example:nothing"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "unsupported_grant_type"


def first_party(make_client):
    return make_client("--first-party", "--grant-type", "password", "--grant-type", "refresh_token")


def test_the_password_grant_serves_first_party_clients(client, app, register, make_client):
    account = register()
    made = first_party(make_client)
    response = token_request(
        client,
        {"grant_type": "password", "username": "alice", "password": PASSWORD, "scope": "profile"},
        basic(made["client_id"], made["client_secret"]),
    )
    assert response.status_code == 200, response.get_json()
    pair = response.get_json()
    assert pair["scope"] == "profile"
    me = client.get("/auth/me", headers=bearer(pair["access_token"]))
    assert me.get_json()["id"] == account["id"]
    with app.app_context():
        session = db.session.execute(db.select(LoginSession)).scalar_one()
        assert session.client_id == made["client_id"]


def test_the_password_grant_refuses_other_clients(client, register, make_client):
    register()
    made = make_client("--grant-type", "password")
    response = token_request(
        client,
        {"grant_type": "password", "username": "alice", "password": PASSWORD},
        basic(made["client_id"], made["client_secret"]),
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "unauthorized_client"


def test_a_wrong_password_is_invalid_grant(client, register, make_client):
    register()
    made = first_party(make_client)
    response = token_request(
        client,
        {"grant_type": "password", "username": "alice", "password": "not it at all"},
        basic(made["client_id"], made["client_secret"]),
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"


def test_the_password_grant_is_off_unless_enabled(make_app, register):
    app = make_app(OAUTH_PASSWORD_GRANT=False)
    client = app.test_client()
    client.post(
        "/auth/register", json={"username": "alice", "email": "a@example.com", "password": PASSWORD}
    )
    result = app.test_cli_runner().invoke(
        args=["create-client", "--name", "app", "--first-party", "--grant-type", "password"]
    )
    made = dict(line.split(": ", 1) for line in result.output.splitlines())
    response = token_request(
        client,
        {"grant_type": "password", "username": "alice", "password": PASSWORD},
        basic(made["client_id"], made["client_secret"]),
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "unsupported_grant_type"
    grants = client.get("/auth/.well-known/oauth-authorization-server").get_json()
    assert "password" not in grants["grant_types_supported"]


def password_pair(client, made):
    response = token_request(
        client,
        {"grant_type": "password", "username": "alice", "password": PASSWORD},
        basic(made["client_id"], made["client_secret"]),
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_refresh_rotates_and_reuse_ends_the_session(client, register, make_client):
    register()
    made = first_party(make_client)
    auth = basic(made["client_id"], made["client_secret"])
    first = password_pair(client, made)
    rotated = token_request(
        client, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, auth
    )
    assert rotated.status_code == 200, rotated.get_json()
    second = rotated.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get("/auth/me", headers=bearer(second["access_token"])).status_code == 200
    # Past the grace for a client racing itself, the old token again is theft.
    client.application.config["REFRESH_REUSE_GRACE_SECONDS"] = 0
    replay = token_request(
        client, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, auth
    )
    assert replay.status_code == 400
    assert replay.get_json()["error"] == "invalid_grant"
    # The whole session ended: the newest tokens are dead too.
    assert client.get("/auth/me", headers=bearer(second["access_token"])).status_code == 401
    again = token_request(
        client, {"grant_type": "refresh_token", "refresh_token": second["refresh_token"]}, auth
    )
    assert again.get_json()["error"] == "invalid_grant"


def test_a_refresh_token_is_redeemed_only_by_its_client(client, register, make_client):
    register()
    made = first_party(make_client)
    other = first_party(make_client)
    pair = password_pair(client, made)
    response = token_request(
        client,
        {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]},
        basic(other["client_id"], other["client_secret"]),
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"


def test_an_access_token_is_not_a_refresh_token(client, register, make_client):
    register()
    made = first_party(make_client)
    pair = password_pair(client, made)
    response = token_request(
        client,
        {"grant_type": "refresh_token", "refresh_token": pair["access_token"]},
        basic(made["client_id"], made["client_secret"]),
    )
    assert response.get_json()["error"] == "invalid_grant"


def test_revoking_a_refresh_token_ends_its_session(client, register, make_client):
    register()
    made = first_party(make_client)
    auth = basic(made["client_id"], made["client_secret"])
    pair = password_pair(client, made)
    response = client.post(
        "/auth/revoke",
        data={"token": pair["refresh_token"], "token_type_hint": "refresh_token"},
        headers=auth,
    )
    assert response.status_code == 200
    assert client.get("/auth/me", headers=bearer(pair["access_token"])).status_code == 401
    refresh = token_request(
        client, {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}, auth
    )
    assert refresh.get_json()["error"] == "invalid_grant"


def test_revoking_an_access_token_stops_it_everywhere(client, register, make_client):
    register()
    made = first_party(make_client)
    pair = password_pair(client, made)
    response = client.post(
        "/auth/revoke",
        data={"token": pair["access_token"]},
        headers=basic(made["client_id"], made["client_secret"]),
    )
    assert response.status_code == 200
    assert client.get("/auth/me", headers=bearer(pair["access_token"])).status_code == 401


def test_a_client_cannot_revoke_another_clients_token(client, register, make_client):
    register()
    made = first_party(make_client)
    other = first_party(make_client)
    pair = password_pair(client, made)
    response = client.post(
        "/auth/revoke",
        data={"token": pair["access_token"]},
        headers=basic(other["client_id"], other["client_secret"]),
    )
    assert response.status_code == 400
    assert client.get("/auth/me", headers=bearer(pair["access_token"])).status_code == 200


def test_revoking_garbage_is_fine(client, make_client):
    made = make_client("--grant-type", "client_credentials")
    response = client.post(
        "/auth/revoke",
        data={"token": "not-a-token"},
        headers=basic(made["client_id"], made["client_secret"]),
    )
    assert response.status_code == 200


def test_introspection_tells_active_and_inactive(client, register, make_client):
    register()
    made = first_party(make_client)
    server = make_client("--grant-type", "client_credentials")
    auth = basic(server["client_id"], server["client_secret"])
    pair = password_pair(client, made)
    active = client.post("/auth/introspect", data={"token": pair["access_token"]}, headers=auth)
    body = active.get_json()
    assert body["active"] is True
    assert body["client_id"] == made["client_id"] and body["username"] == "alice"
    client.post("/auth/logout", headers=bearer(pair["access_token"]))
    after = client.post("/auth/introspect", data={"token": pair["access_token"]}, headers=auth)
    assert after.get_json() == {"active": False}
    refresh = client.post("/auth/introspect", data={"token": pair["refresh_token"]}, headers=auth)
    assert refresh.get_json() == {"active": False}  # its session ended with the logout


def test_public_clients_may_not_introspect(app, client, register, make_client):
    register()
    made = first_party(make_client)
    pair = password_pair(client, made)
    public = make_client("--public", "--redirect-uri", "http://127.0.0.1:9000/cb")
    response = client.post(
        "/auth/introspect",
        data={"token": pair["access_token"], "client_id": public["client_id"]},
    )
    assert response.status_code in (400, 401)
    assert response.get_json()["error"] == "invalid_client"
    assert "active" not in response.get_json()


PROBLEM_MEMBERS = {"type", "title", "status", "detail", "instance"}


@pytest.mark.parametrize(
    ("path", "form", "error", "status"),
    [
        pytest.param("/auth/token", {"grant_type": "client_credentials"}, "invalid_client", 401),
        pytest.param("/auth/revoke", {"token": "x"}, "invalid_client", 401),
        pytest.param("/auth/introspect", {"token": "x"}, "invalid_client", 401),
        pytest.param("/auth/token", {"grant_type": "urn:x"}, "unsupported_grant_type", 400),
        pytest.param("/auth/token", {"grant_type": "refresh_token"}, "invalid_request", 400),
        pytest.param(
            "/auth/token",
            {"grant_type": "refresh_token", "refresh_token": "garbage"},
            "invalid_grant",
            400,
        ),
    ],
)
def test_errors_are_rfc_6749_json_that_is_also_a_problem_document(
    client, make_client, path, form, error, status
):
    made = make_client("--grant-type", "client_credentials", "--grant-type", "refresh_token")
    secret = made["client_secret"] if status == 400 else "wrong"
    response = client.post(path, data=form, headers=basic(made["client_id"], secret))
    assert response.status_code == status
    # RFC 6749 5.2 (RFC 7009 2.2.1 and RFC 7662 2.3 refer to it): application/json.
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["error"] == error
    assert body.keys() >= PROBLEM_MEMBERS
    assert (body["status"], body["instance"]) == (status, path)
    # error_description is optional (RFC 6749 5.2); the problem's detail always says something.
    assert body["detail"] == body.get("error_description", error)
    if status == 401:
        # RFC 6749 5.2: the scheme the client used (client_secret_basic).
        assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert not {"access_token", "active"} & body.keys()
