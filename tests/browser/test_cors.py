"""CORS as a browser enforces it: a listed origin may call the API, any other is blocked."""

from __future__ import annotations

import requests
from conftest import verify_email


def _access_token(gateway: str, user: dict[str, str]) -> str:
    created = requests.post(f"{gateway}/auth/register", json=user, timeout=10)
    assert created.status_code == 201, created.text
    verify_email(gateway, user["email"])
    login = {"username": user["username"], "password": user["password"]}
    tokens = requests.post(f"{gateway}/auth/login", json=login, timeout=10)
    assert tokens.status_code == 200, tokens.text
    return tokens.json()["access_token"]


def test_listed_origin_calls_the_api_with_a_bearer_token(
    page, gateway, static_site, new_user, screenshot
):
    token = _access_token(gateway, new_user)
    page.goto(f"{static_site.listed_origin}/cors.html")
    result = page.evaluate("([gateway, token]) => callApi(gateway, token)", [gateway, token])
    assert result["ok"], result
    assert result["status"] == 201, result
    assert result["body"]["name"] == f"Lamp from {static_site.listed_origin}"
    screenshot(page, "cors-listed-origin")


def test_unlisted_origin_is_blocked_by_the_browser(
    page, gateway, static_site, new_user, screenshot
):
    token = _access_token(gateway, new_user)
    page.goto(f"{static_site.unlisted_origin}/cors.html")
    result = page.evaluate("([gateway, token]) => callApi(gateway, token)", [gateway, token])
    assert not result["ok"], result
    assert "Failed to fetch" in result["error"]
    screenshot(page, "cors-unlisted-origin")
    # The preflight was refused, so the request itself never reached the API.
    mine = requests.get(
        f"{gateway}/api/items", params={"q": static_site.unlisted_origin}, timeout=10
    )
    assert mine.json() == []
