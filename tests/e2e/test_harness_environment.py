"""The harness's stacks do not see the suite's settings exported in the caller's shell.

Anyone who followed the README's configuration table has AUTH_SERVICE_URL, REDIS_URL and
friends exported; `make test` in that shell must test the same stack as anywhere else.
"""

from __future__ import annotations

import uuid

import pytest
import requests
from conftest import RunningStack, free_port, verify_email

# What a developer's shell could hold, every value wrong for a stack on free ports.
EXPORTED_IN_THE_SHELL = {
    "AUTH_SERVICE_URL": "http://127.0.0.1:{dead}",
    "CONTENT_SERVICE_URL": "http://127.0.0.1:{dead}",
    "GATEWAY_CONTENT_SERVICE_URL": "http://127.0.0.1:{dead}",
    "REDIS_URL": "redis://127.0.0.1:{dead}/0",
    "AUTH_DATABASE_URL": "sqlite:////nonexistent/auth.sqlite3",
    "CONTENT_DATABASE_URL": "sqlite:////nonexistent/content.sqlite3",
    "APP_ENV": "production",
    "RATE_LIMIT": "1/hour",
    "RATE_LIMIT_ANONYMOUS": "1/hour",
    "GUNICORN_WORKERS": "0",
    "PROMETHEUS_MULTIPROC_DIR": "/nonexistent/metrics",
    "JWT_KEYS_DIR": "/nonexistent/keys",
}


@pytest.fixture
def shell_with_settings(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    dead = free_port()  # nothing listens there
    exported = {name: value.format(dead=dead) for name, value in EXPORTED_IN_THE_SHELL.items()}
    for name, value in exported.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CORS_ORIGINS", "http://exported.example")
    monkeypatch.setenv("E2E_ENV_CORS_ORIGINS", "http://handed-over.example")  # on purpose
    return exported


def test_exported_settings_do_not_reach_the_stack(
    shell_with_settings: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    running = RunningStack(tmp_path_factory.mktemp("stack-shell"))
    for name, value in shell_with_settings.items():
        assert running.env.get(name) != value, name
    assert running.env["CORS_ORIGINS"] == "http://handed-over.example"
    running.start()
    try:
        gateway = running.gateway
        name = "h" + uuid.uuid4().hex[:12]
        password = "correct horse " + uuid.uuid4().hex[:6]
        # Several anonymous requests: RATE_LIMIT_ANONYMOUS=1/hour would refuse the second.
        for _ in range(3):
            assert requests.get(f"{gateway}/readyz", timeout=10).status_code == 200
        registered = requests.post(
            f"{gateway}/auth/register",
            json={"username": name, "email": f"{name}@example.com", "password": password},
            timeout=10,
        )
        assert registered.status_code == 201, registered.text
        verify_email(gateway, f"{name}@example.com")
        tokens = requests.post(
            f"{gateway}/auth/login", json={"username": name, "password": password}, timeout=10
        ).json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        # Through the gateway to content, which verifies the token with auth's keys: both
        # found where this stack put them, not at the URLs exported in the shell.
        created = requests.post(
            f"{gateway}/api/items", json={"name": "Lamp", "price": 1}, headers=headers, timeout=10
        )
        assert created.status_code == 201, created.text
        read = requests.get(
            f"{gateway}/api/items/{created.json()['id']}", headers=headers, timeout=10
        )
        assert read.status_code == 200, read.text
        assert read.json()["name"] == "Lamp"
        # E2E_ENV_CORS_ORIGINS was handed over; the plain CORS_ORIGINS export was not.
        for origin, allowed in (
            ("http://handed-over.example", True),
            ("http://exported.example", False),
        ):
            answer = requests.get(f"{gateway}/healthz", headers={"Origin": origin}, timeout=10)
            assert (answer.headers.get("Access-Control-Allow-Origin") == origin) is allowed
    finally:
        running.stop()
