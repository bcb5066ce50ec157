"""A stopped content service costs the client a quick 502, not a hang."""

from __future__ import annotations

import time

import pytest
import requests
from conftest import RunningStack

# It stops a service: only possible on a stack this test process started.
pytestmark = pytest.mark.local_stack


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory):
    # Its own stack: this test stops a service, which must not disturb the other tests.
    running = RunningStack(tmp_path_factory.mktemp("stack-down"))
    running.start()
    yield running
    running.stop()


def test_stopped_content_gives_502_quickly(own_stack):
    assert requests.get(f"{own_stack.gateway}/api/items", timeout=10).status_code == 200
    own_stack.kill_service("content")
    started = time.monotonic()
    response = requests.get(f"{own_stack.gateway}/api/items", timeout=10)
    elapsed = time.monotonic() - started
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json()["status"] == 502
    assert elapsed < 5, f"502 took {elapsed:.1f} s"
    ready = requests.get(f"{own_stack.gateway}/readyz", timeout=10)
    assert ready.status_code == 503
    assert "content" in ready.json()["detail"]
    # The rest of the stack still answers.
    assert requests.get(f"{own_stack.gateway}/healthz", timeout=5).status_code == 200
