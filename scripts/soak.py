"""Soak the stack through the gateway: mixed reads and writes at the measured capacity.

Starts its own stack (devstack, free ports, a temporary directory), finds the concurrency
that gives the most requests per second in short closed-loop steps, then runs paced at that
rate for a bounded time and count. Afterwards it counts the rows the services hold against
the writes they accepted, and reads every process's resident memory before and after.

    .venv/bin/python scripts/soak.py                     # 60 s soak, results to stdout
    .venv/bin/python scripts/soak.py --write-docs        # and into docs/benchmarks.md

Exits non-zero on any 5xx, any transport error, or any lost or extra write.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests
from local_stack import LocalStack

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION_START = "<!-- soak:start -->"
SECTION_END = "<!-- soak:end -->"
USERS = 8
# The soak measures the stack, not the limiter: limits far above the offered load.
STACK_ENV = {
    "RATE_LIMIT": "1000000/minute",
    "RATE_LIMIT_ANONYMOUS": "1000000/minute",
    "LOG_LEVEL": "WARNING",
}


def memory(stack: LocalStack) -> dict[str, int]:
    """Resident memory (KiB) of every process of the stack, by name."""
    rss: dict[str, int] = {}
    for name in ("redis", "auth", "content", "gateway"):
        for index, pid in enumerate(stack.pids(name)):
            rss[name if index == 0 else f"{name} worker {index}"] = _rss_kib(pid)
    return rss


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    created: dict[str, set[int]] = field(default_factory=lambda: {"items": set(), "posts": set()})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, status: int, seconds: float) -> None:
        with self.lock:
            self.statuses[status] += 1
            self.latencies.append(seconds)

    @property
    def total(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())


class Workload:
    """Mixed traffic from several signed-in users: 70 % reads, 30 % writes."""

    def __init__(self, stack: LocalStack, run_id: str) -> None:
        self.stack = stack
        self.gateway = stack.gateway
        self.run_id = run_id
        self.users = [self._sign_up(i) for i in range(USERS)]
        self.item_ids: list[int] = []
        self.tally = Tally()

    def _sign_up(self, index: int) -> dict[str, str]:
        name = f"soak{self.run_id}{index}"
        password = "soak password " + uuid.uuid4().hex[:8]
        body = {"username": name, "email": f"{name}@example.com", "password": password}
        requests.post(f"{self.gateway}/auth/register", json=body, timeout=30).raise_for_status()
        self.stack.verify_email(body["email"])  # content takes writes from verified accounts
        tokens = requests.post(
            f"{self.gateway}/auth/login",
            json={"username": name, "password": password},
            timeout=30,
        )
        tokens.raise_for_status()
        return {"Authorization": f"Bearer {tokens.json()['access_token']}"}

    def one(self, session: requests.Session, rng: random.Random) -> None:
        roll = rng.random()
        headers = rng.choice(self.users)
        marker = f"soak-{self.run_id}"
        params: dict[str, str | int] | None = None
        body: dict[str, str | int] | None = None
        if roll < 0.30:
            method, path, params = "GET", "/api/items", {"per_page": 20}
        elif roll < 0.50 and self.item_ids:
            method, path = "GET", f"/api/items/{rng.choice(self.item_ids)}"
        elif roll < 0.70:
            method, path, params = "GET", "/api/posts", {"per_page": 20, "sort": "-created_at"}
        elif roll < 0.90:
            method, path = "POST", "/api/items"
            body = {"name": f"{marker} {rng.randrange(10**6)}", "price": rng.randrange(100)}
        else:
            method, path = "POST", "/api/posts"
            body = {"title": f"{marker} post", "content": "soak " * rng.randrange(1, 50)}
        started = time.perf_counter()
        try:
            response = session.request(
                method,
                self.gateway + path,
                params=params,
                json=body,
                headers=headers if method == "POST" else None,
                timeout=30,
            )
        except requests.RequestException as exc:
            with self.tally.lock:
                self.tally.errors[type(exc).__name__] += 1
            return
        self.tally.record(response.status_code, time.perf_counter() - started)
        if method == "POST" and response.status_code == 201:
            kind = path.rsplit("/", 1)[1]
            with self.tally.lock:
                self.tally.created[kind].add(response.json()["id"])
                if kind == "items":
                    self.item_ids.append(response.json()["id"])

    def rows_held(self) -> dict[str, int]:
        held: dict[str, int] = {}
        for kind in ("items", "posts"):
            response = requests.get(
                f"{self.gateway}/api/{kind}",
                params={"q": f"soak-{self.run_id}", "per_page": "1"},
                timeout=60,
            )
            response.raise_for_status()
            held[kind] = int(response.headers["X-Total-Count"])
        return held


def run_closed_loop(
    work: Callable[[requests.Session, random.Random], None], workers: int, seconds: float
) -> None:
    deadline = time.monotonic() + seconds

    def loop(seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311 - load shape, not security
        with requests.Session() as session:
            while time.monotonic() < deadline:
                work(session, rng)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def run_paced(
    work: Callable[[requests.Session, random.Random], None],
    workers: int,
    rate: float,
    seconds: float,
    max_requests: int,
) -> None:
    """Open loop: request n starts at n / rate seconds, whoever is free sends it."""
    started = time.monotonic()
    counter = iter(range(max_requests))
    lock = threading.Lock()

    def loop(seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311 - load shape, not security
        with requests.Session() as session:
            while True:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                due = started + n / rate
                if due - started > seconds:
                    return
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                work(session, rng)

    threads = [threading.Thread(target=loop, args=(1000 + i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def measure_capacity(stack: LocalStack, step_seconds: float) -> tuple[int, float]:
    """The concurrency with the highest throughput in short closed-loop steps, and that rate."""
    best = (1, 0.0)
    for workers in (2, 4, 8, 16):
        probe = Workload(stack, uuid.uuid4().hex[:8])  # its rows are not the soak's
        started = time.monotonic()
        run_closed_loop(probe.one, workers, step_seconds)
        rate = probe.tally.total / (time.monotonic() - started)
        print(f"  concurrency {workers:2}: {rate:7.1f} req/s", flush=True)
        if rate > best[1] * 1.05:
            best = (workers, rate)
    return best


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def report(
    capacity: tuple[int, float],
    planned: float,
    seconds: float,
    work: Workload,
    held: dict[str, int],
    before: dict[str, int],
    after: dict[str, int],
) -> str:
    tally = work.tally
    accepted = {kind: len(ids) for kind, ids in tally.created.items()}
    lines = [
        SECTION_START,
        "## Soak (`make soak`)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on this machine "
        "(2 cores, the load generator on the same machine). Capacity step (closed loop, "
        "2, 4, 8 and 16 clients): the concurrency with the most requests per second was "
        f"{capacity[0]} at {capacity[1]:.0f} req/s; the "
        f"soak then offered that rate, paced, for {planned:.0f} s (it took {seconds:.0f} s to "
        "answer everything) through the gateway: "
        "30 % item lists, 20 % single items, 20 % post lists, 20 % item creates, "
        "10 % post creates, from 8 signed-in users.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| requests sent | {tally.total} ({tally.total / seconds:.0f} req/s answered, "
        f"{capacity[1]:.0f} offered) |",
        f"| statuses | {', '.join(f'{s}: {n}' for s, n in sorted(tally.statuses.items()))} |",
        f"| 5xx answers | {sum(n for s, n in tally.statuses.items() if s >= 500)} |",
        f"| transport errors | {sum(tally.errors.values())} |",
        f"| latency p50 / p95 / p99 | {percentile(tally.latencies, 0.5) * 1000:.1f} / "
        f"{percentile(tally.latencies, 0.95) * 1000:.1f} / "
        f"{percentile(tally.latencies, 0.99) * 1000:.1f} ms |",
        f"| items: accepted (201) / rows held | {accepted['items']} / {held['items']} |",
        f"| posts: accepted (201) / rows held | {accepted['posts']} / {held['posts']} |",
        "",
        "Resident memory (RSS) of every process, after a warm-up and after the soak:",
        "",
        "| process | before (MiB) | after (MiB) | change |",
        "|---|---|---|---|",
    ]
    for name in sorted(set(before) | set(after)):
        b, a = before.get(name, 0) / 1024, after.get(name, 0) / 1024
        lines.append(f"| {name} | {b:.1f} | {a:.1f} | {a - b:+.1f} |")
    lines += ["", SECTION_END]
    return "\n".join(lines)


def write_docs(section: str) -> None:
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    if SECTION_START in text and SECTION_END in text:
        head, _, rest = text.partition(SECTION_START)
        _, _, tail = rest.partition(SECTION_END)
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", 60)))
    parser.add_argument(
        "--max-requests", type=int, default=int(os.environ.get("SOAK_MAX_REQUESTS", 100_000))
    )
    parser.add_argument("--step-seconds", type=float, default=5.0)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    run_id = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        stack = LocalStack(Path(tmp), STACK_ENV)
        print("starting the stack", flush=True)
        stack.start()
        try:
            print("measuring capacity", flush=True)
            capacity = measure_capacity(stack, args.step_seconds)
            # A warm-up, so memory is compared past start-up; its rows are not counted.
            run_closed_loop(Workload(stack, uuid.uuid4().hex[:8]).one, 4, 2)
            work = Workload(stack, run_id)
            before = memory(stack)
            print(f"soaking at {capacity[1]:.0f} req/s for {args.seconds:.0f} s", flush=True)
            started = time.monotonic()
            run_paced(work.one, capacity[0] * 2, capacity[1], args.seconds, args.max_requests)
            elapsed = time.monotonic() - started
            after = memory(stack)
            held = work.rows_held()
        finally:
            stack.stop()
    section = report(capacity, args.seconds, elapsed, work, held, before, after)
    print(section)
    if args.write_docs:
        write_docs(section)
    tally = work.tally
    server_errors = sum(n for s, n in tally.statuses.items() if s >= 500)
    lost = any(len(tally.created[kind]) != held[kind] for kind in held)
    return 1 if server_errors or tally.errors or lost else 0


if __name__ == "__main__":
    sys.exit(main())
