"""The foundation's promise, through the gateway over real processes."""

from __future__ import annotations

import base64
import json
import time
import uuid

import requests

PROBLEM = "application/problem+json"


def test_register_login_and_item_lifecycle(gateway, user):
    headers = user["headers"]
    created = requests.post(
        f"{gateway}/api/items",
        json={"name": "Lamp", "description": "desk lamp", "price": 25},
        headers=headers,
        timeout=10,
    )
    assert created.status_code == 201, created.text
    item = created.json()
    assert item["owner_id"] == user["account"]["id"]
    location = created.headers["Location"]
    assert location == f"/api/items/{item['id']}"

    listed = requests.get(f"{gateway}/api/items", params={"per_page": 100}, timeout=10)
    assert listed.status_code == 200
    assert item["id"] in [i["id"] for i in listed.json()]
    assert int(listed.headers["X-Total-Count"]) >= 1

    updated = requests.patch(
        f"{gateway}{location}", json={"price": 30}, headers=headers, timeout=10
    )
    assert updated.status_code == 200
    assert updated.json()["price"] == 30

    assert requests.delete(f"{gateway}{location}", headers=headers, timeout=10).status_code == 204
    gone = requests.get(f"{gateway}{location}", timeout=10)
    assert gone.status_code == 404
    assert gone.headers["Content-Type"].startswith(PROBLEM)


def test_me_through_the_gateway(gateway, user):
    me = requests.get(f"{gateway}/auth/me", headers=user["headers"], timeout=10)
    assert me.status_code == 200
    assert me.json()["username"] == user["account"]["username"]


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["roles"] = ["admin"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def test_tampered_token_is_401_problem(gateway, user):
    forged = _tamper(user["tokens"]["access_token"])
    response = requests.post(
        f"{gateway}/api/items",
        json={"name": "x", "price": 1},
        headers={"Authorization": f"Bearer {forged}"},
        timeout=10,
    )
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith(PROBLEM)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body = response.json()
    assert body["status"] == 401
    assert body["request_id"] == response.headers["X-Request-ID"]


def test_request_id_crosses_every_service_and_lands_in_their_logs(stack, user):
    request_id = "e2e-" + uuid.uuid4().hex
    response = requests.post(
        f"{stack.gateway}/api/items",
        json={"name": "Traced", "price": 1},
        headers={**user["headers"], "X-Request-ID": request_id},
        timeout=10,
    )
    assert response.status_code == 201
    assert response.headers["X-Request-ID"] == request_id
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        gateway_lines = [ln for ln in stack.log("gateway").splitlines() if request_id in ln]
        content_lines = [ln for ln in stack.log("content").splitlines() if request_id in ln]
        if gateway_lines and content_lines:
            break
        time.sleep(0.1)
    for line in gateway_lines + content_lines:
        entry = json.loads(line)
        assert entry["request_id"] == request_id
    assert gateway_lines and content_lines


def test_reads_answered_on_the_gateway_loop_leave_the_same_access_lines(stack, user):
    item = requests.post(
        f"{stack.gateway}/api/items", json={"name": "Read", "price": 1}, headers=user["headers"]
    ).json()
    ids = ["e2e-read-" + uuid.uuid4().hex for _ in range(6)]
    for request_id in ids:  # a token's first reads verify it; the rest are served on the loop
        response = requests.get(
            f"{stack.gateway}/api/items/{item['id']}",
            headers={**user["headers"], "X-Request-ID": request_id},
            timeout=10,
        )
        assert response.status_code == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [ln for ln in stack.log("gateway").splitlines() if "e2e-read-" in ln]
        if len(lines) >= len(ids):
            break
        time.sleep(0.1)
    entries = {entry["request_id"]: entry for entry in map(json.loads, lines)}
    assert set(entries) == set(ids)
    for entry in entries.values():
        assert entry["logger"] == "access"
        assert (entry["service"], entry["level"]) == ("gateway", "INFO")
        assert entry["message"] == f"GET /api/items/{item['id']} 200"
        assert (entry["method"], entry["path"], entry["status"]) == (
            "GET", f"/api/items/{item['id']}", 200
        )  # fmt: skip
        assert isinstance(entry["duration_ms"], float) and entry["duration_ms"] > 0
        assert entry["ts"].endswith("Z")


def test_invalid_request_id_is_replaced(gateway):
    response = requests.get(f"{gateway}/healthz", headers={"X-Request-ID": "no spaces!"}, timeout=5)
    assert response.headers["X-Request-ID"] != "no spaces!"


def test_unknown_path_is_problem_json(gateway):
    response = requests.get(f"{gateway}/nowhere", timeout=5)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith(PROBLEM)
