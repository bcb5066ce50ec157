"""PostgreSQL restarted under load: auth and content recover by themselves, no restart.

Both services run on a throwaway PostgreSQL cluster. Clients keep reading and writing
through the gateway while the server drops every connection (immediate stop) and comes back.
During the gap a client is told 503 problem+json (never a 500); after it, every request succeeds
again with no service restarted, and every write the stack accepted is there.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pgcluster
import pytest
import requests
from conftest import register, start_stack, wait_until


@pytest.fixture(scope="module")
def cluster() -> Iterator[pgcluster.PostgresCluster]:
    pg = pgcluster.PostgresCluster().create("auth", "content")
    yield pg
    pg.destroy()


@pytest.fixture(scope="module")
def pg_stack(tmp_path_factory: pytest.TempPathFactory, cluster: pgcluster.PostgresCluster) -> Any:
    running = start_stack(
        tmp_path_factory.mktemp("pg"),
        {
            "AUTH_DATABASE_URL": cluster.url("auth"),
            "CONTENT_DATABASE_URL": cluster.url("content"),
            # The outage trips the gateway's breakers; this test is about the services.
            "CIRCUIT_RESET_SECONDS": "3",
        },
    )
    yield running
    running.stop()


class Load:
    """Two clients creating and reading items until told to stop."""

    def __init__(self, gateway: str, headers: dict[str, str]) -> None:
        self.gateway = gateway
        self.headers = headers
        self.statuses: Counter[int] = Counter()
        self.non_problem_errors: list[str] = []
        self.created: set[int] = set()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(2)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def _run(self, index: int) -> None:
        session = requests.Session()
        n = 0
        while not self.stopping.is_set():
            n += 1
            if n % 2:
                response = session.post(
                    f"{self.gateway}/api/items",
                    json={"name": f"pg-load-{index}-{n}", "price": 1},
                    headers=self.headers,
                    timeout=30,
                )
            else:
                response = session.get(f"{self.gateway}/api/items", timeout=30)
            with self.lock:
                self.statuses[response.status_code] += 1
                if response.status_code == 201:
                    self.created.add(response.json()["id"])
                elif response.status_code >= 400 and not response.headers.get(
                    "Content-Type", ""
                ).startswith("application/problem+json"):
                    self.non_problem_errors.append(response.text[:200])
            time.sleep(0.02)


def test_services_recover_from_a_postgres_restart_under_load(
    pg_stack: Any, cluster: pgcluster.PostgresCluster
) -> None:
    gateway = pg_stack.gateway
    user = register(gateway)
    pids_before = {
        name: (pg_stack.state_dir / "run" / f"{name}.pid").read_text()
        for name in ("auth", "content")
    }
    with Load(gateway, user["headers"]) as load:
        time.sleep(1.5)
        cluster.restart()
        time.sleep(0.5)
        cluster.stop("immediate")  # a second blow, while requests are still in flight
        time.sleep(1.0)
        cluster.start()
        time.sleep(2.0)

    assert load.statuses[201] > 0, load.statuses
    assert load.non_problem_errors == [], load.non_problem_errors
    # While the database is away the answer is "unavailable, retry" (503), never a 500.
    assert 500 not in load.statuses, load.statuses

    def healthy() -> bool:
        me = requests.get(f"{gateway}/auth/me", headers=user["headers"], timeout=20)
        listed = requests.get(f"{gateway}/api/items", timeout=20)
        ready = requests.get(f"{gateway}/readyz", timeout=20)
        return me.status_code == listed.status_code == ready.status_code == 200

    assert wait_until(healthy, 30)
    # Every further request works, on every worker: no pool holds a dead connection.
    for n in range(20):
        assert requests.get(f"{gateway}/api/items", timeout=20).status_code == 200
        created = requests.post(
            f"{gateway}/api/items",
            json={"name": f"after-{n}", "price": 2},
            headers=user["headers"],
            timeout=20,
        )
        assert created.status_code == 201, created.text
    assert register(gateway)["tokens"]["access_token"]
    # Every write the stack accepted under load is still there.
    for item_id in sorted(load.created):
        assert requests.get(f"{gateway}/api/items/{item_id}", timeout=20).status_code == 200
    # Recovered by themselves: the same processes as before the restart.
    for name, pid in pids_before.items():
        assert (pg_stack.state_dir / "run" / f"{name}.pid").read_text() == pid


def test_text_postgresql_cannot_store_is_never_a_500(pg_stack: Any) -> None:
    """PostgreSQL text refuses NUL characters, which SQLite stores; JSON can carry them."""
    gateway = pg_stack.gateway
    user = register(gateway)
    for path, body in (
        ("/api/items", {"name": "lamp\u0000", "price": 1}),
        ("/api/posts", {"title": "hello", "content": "a\u0000b"}),
        (
            "/auth/register",
            {"username": "nul", "email": "n@example.com", "password": "a\u0000" * 8},
        ),
    ):
        response = requests.post(f"{gateway}{path}", json=body, headers=user["headers"], timeout=20)
        assert response.status_code < 500, (path, response.status_code, response.text)
    for path in ("/api/items?q=%00", "/api/posts?q=a%00b", "/api/posts?author=%00"):
        response = requests.get(f"{gateway}{path}", timeout=20)
        assert response.status_code < 500, (path, response.status_code, response.text)
