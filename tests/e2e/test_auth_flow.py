"""Contract section 4 through the gateway: revocation reaches every service at once."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import jwt
import requests

ROOT = Path(__file__).resolve().parents[2]
FLASK = Path(sys.executable).parent / "flask"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(gateway: str, username: str, password: str) -> dict:
    response = requests.post(
        f"{gateway}/auth/login", json={"username": username, "password": password}, timeout=10
    )
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    return response.json()


def create_item(gateway: str, token: str) -> requests.Response:
    return requests.post(
        f"{gateway}/api/items", json={"name": "Lamp", "price": 1}, headers=bearer(token), timeout=10
    )


def test_logout_revokes_the_token_at_auth_and_content_at_once(gateway, user):
    token = user["tokens"]["access_token"]
    assert create_item(gateway, token).status_code == 201
    logout = requests.post(f"{gateway}/auth/logout", headers=bearer(token), timeout=10)
    assert logout.status_code == 204
    me = requests.get(f"{gateway}/auth/me", headers=bearer(token), timeout=10)
    assert me.status_code == 401
    revoked = create_item(gateway, token)
    assert revoked.status_code == 401
    assert revoked.headers["Content-Type"].startswith("application/problem+json")
    assert revoked.headers["WWW-Authenticate"].startswith("Bearer")
    refresh = requests.post(
        f"{gateway}/auth/refresh", headers=bearer(user["tokens"]["refresh_token"]), timeout=10
    )
    assert refresh.status_code == 401


def read_items(gateway: str, token: str, times: int) -> list[int]:
    """GET /api/items `times` times, each on a new connection (so on any gateway worker)."""
    return [
        requests.get(f"{gateway}/api/items", headers=bearer(token), timeout=10).status_code
        for _ in range(times)
    ]


def test_logout_stops_a_token_that_each_gateway_worker_already_trusts(gateway, user):
    token = user["tokens"]["access_token"]
    # Enough reads for every worker to verify the token, read its revocation marks and
    # then vouch for it without asking Redis again (gateway_service.revocation_news).
    assert read_items(gateway, token, 40) == [200] * 40
    logout = requests.post(f"{gateway}/auth/logout", headers=bearer(token), timeout=10)
    assert logout.status_code == 204
    assert read_items(gateway, token, 40) == [401] * 40


def test_refresh_rotation_and_reuse_detection(gateway, user):
    first = user["tokens"]
    second = requests.post(
        f"{gateway}/auth/refresh", headers=bearer(first["refresh_token"]), timeout=10
    ).json()
    third = requests.post(
        f"{gateway}/auth/refresh", headers=bearer(second["refresh_token"]), timeout=10
    ).json()
    assert create_item(gateway, third["access_token"]).status_code == 201
    # The first refresh token, two rotations old, comes back: someone copied it.
    reuse = requests.post(
        f"{gateway}/auth/refresh", headers=bearer(first["refresh_token"]), timeout=10
    )
    assert reuse.status_code == 401
    assert create_item(gateway, third["access_token"]).status_code == 401
    again = requests.post(
        f"{gateway}/auth/refresh", headers=bearer(third["refresh_token"]), timeout=10
    )
    assert again.status_code == 401


def test_a_refresh_token_is_refused_as_an_access_token_by_content(gateway, user):
    assert create_item(gateway, user["tokens"]["refresh_token"]).status_code == 401


def test_password_change_signs_out_the_other_sessions_everywhere(gateway, user):
    name = user["account"]["username"]
    other = login(gateway, name, user["password"])
    assert read_items(gateway, other["access_token"], 30) == [200] * 30
    change = requests.put(
        f"{gateway}/auth/me/password",
        json={"current_password": user["password"], "new_password": "another fine passphrase"},
        headers=user["headers"],
        timeout=10,
    )
    assert change.status_code == 204
    assert read_items(gateway, other["access_token"], 30) == [401] * 30
    assert create_item(gateway, other["access_token"]).status_code == 401
    assert create_item(gateway, user["tokens"]["access_token"]).status_code == 201
    login(gateway, name, "another fine passphrase")


def _create_admin(stack, username: str, password: str) -> None:
    env = {
        **os.environ,
        "APP_ENV": "development",
        # The stack's own database: PostgreSQL under `make test-postgres`, else its SQLite file.
        "AUTH_DATABASE_URL": stack.env.get("AUTH_DATABASE_URL")
        or f"sqlite:///{stack.state_dir / 'auth.sqlite3'}",
        "LOG_LEVEL": "WARNING",
    }
    subprocess.run(
        [
            str(FLASK),
            "--app",
            "auth_service",
            "create-admin",
            "--username",
            username,
            "--email",
            f"{username}@example.com",
        ],
        input=f"{password}\n{password}\n".encode(),
        env=env,
        check=True,
        cwd=ROOT,
        capture_output=True,
    )


def test_admin_disables_an_account_and_its_token_dies_everywhere(stack, gateway, user):
    admin_name, admin_password = (
        "admin" + uuid.uuid4().hex[:8],
        "admin passphrase " + uuid.uuid4().hex[:4],
    )
    _create_admin(stack, admin_name, admin_password)
    admin = bearer(login(gateway, admin_name, admin_password)["access_token"])
    assert (
        requests.get(f"{gateway}/auth/accounts", headers=user["headers"], timeout=10).status_code
        == 403
    )
    listed = requests.get(
        f"{gateway}/auth/accounts", headers=admin, params={"per_page": 100}, timeout=10
    )
    assert listed.status_code == 200
    url = f"{gateway}/auth/accounts/{user['account']['id']}"
    disabled = requests.patch(url, json={"disabled": True}, headers=admin, timeout=10)
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    assert create_item(gateway, user["tokens"]["access_token"]).status_code == 401
    refused = requests.post(
        f"{gateway}/auth/login",
        json={"username": user["account"]["username"], "password": user["password"]},
        timeout=10,
    )
    assert refused.status_code == 401


def test_jwks_and_openapi(stack, gateway, user):
    jwks = requests.get(f"{gateway}/auth/.well-known/jwks.json", timeout=10).json()
    kid = jwt.get_unverified_header(user["tokens"]["access_token"])["kid"]
    assert kid in [k["kid"] for k in jwks["keys"]]
    assert all("d" not in k for k in jwks["keys"])
    document = requests.get(f"{stack.url('auth')}/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.1")
    assert "/auth/login" in document["paths"]
