"""`make bench-writes`: item creates at concurrency 16 on PostgreSQL; what the exact total costs.

Starts a throwaway PostgreSQL 15 cluster (as scripts/test-postgres.sh does, but with the
server's default durability: every commit flushed), applies content's migrations, then:

- the database alone: 16 connections each running a create's transaction as content runs
  it (the INSERT, then the total's update, one commit), against the same transaction
  without the total, in alternating rounds; the difference is the counter's share;
- the service: `POST /api/items` straight to content under gunicorn (`make up`'s settings,
  2 workers) at concurrency 16 with wrk.

Writes the figures to docs/benchmarks.md (the "writes" section).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from bench_gateway import ensure_wrk, raise_priority
from bench_monolith import post_script, run_wrk, sign_in, write_section
from local_stack import LocalStack, free_port

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- writes-bench:start -->", "<!-- writes-bench:end -->"
INSERT = (
    "INSERT INTO items (name, description, price, owner_id, created_at, updated_at, version) "
    "VALUES (%s, %s, %s, %s, %s, %s, 1) RETURNING id"
)


def pg_bin() -> Path:
    for candidate in (os.environ.get("PG_BIN"), "/usr/lib/postgresql/15/bin"):
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise SystemExit("PostgreSQL 15 server binaries not found (set PG_BIN)")


@contextmanager
def postgres(base: Path) -> Iterator[str]:
    """A throwaway cluster with default durability; yields a database URL."""
    binaries, port = pg_bin(), free_port()
    data = base / "data"
    base.mkdir()
    as_pg: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        as_pg = ["runuser", "-u", "postgres", "--"]
        base.parent.chmod(0o755)  # a temporary directory of ours: the postgres user enters it
        base.chmod(0o755)
        shutil.chown(base, "postgres")

    def run(*args: str) -> None:
        subprocess.run([*as_pg, *args], check=True, stdout=subprocess.DEVNULL)  # noqa: S603

    run(str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={base}"
    run(
        str(binaries / "pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(base / "log"),
        "-w",
        "start",
        "-o",
        options,
    )
    try:
        run(
            str(binaries / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "postgres",
            "content",
        )
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/content"
    finally:
        run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")


def migrate(url: str) -> None:
    env = {**os.environ, "CONTENT_DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    subprocess.run(  # noqa: S603 - our own fixed command line
        [str(Path(sys.executable).parent / "flask"), "--app", "content_service", "db", "upgrade"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def creates(dsn: str, concurrency: int, seconds: float, counted: bool) -> tuple[float, float]:
    """Creates a second and the median transaction in ms, `concurrency` connections at once."""
    stop_at = time.monotonic() + seconds
    latencies: list[float] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        mine = []
        with psycopg.connect(dsn) as conn:
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                now = datetime.now(UTC)
                with conn.transaction():
                    conn.execute(INSERT, ("Benchmark lamp", "x" * 200, 25.5, n, now, now))
                    if counted:
                        conn.execute(
                            "UPDATE row_counts SET total = total + 1 WHERE table_name = 'items'"
                        )
                mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(concurrency)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies) / (time.monotonic() - began), statistics.median(latencies) * 1000


def measure(args: argparse.Namespace) -> dict[str, object]:
    niceness = raise_priority(args.nice)
    wrk = ensure_wrk()
    runs: dict[str, list[tuple[float, float]]] = {"counted": [], "uncounted": []}
    service: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-writes-") as tmp,
        postgres(Path(tmp) / "pg") as url,
    ):
        migrate(url)
        dsn = url.replace("postgresql+psycopg://", "postgresql://")
        creates(dsn, args.concurrency, 1, True)  # warm
        for round_no in range(args.rounds):
            print(f"[bench] database, round {round_no + 1}/{args.rounds}", flush=True)
            order = [True, False] if round_no % 2 == 0 else [False, True]
            for with_total in order:
                key = "counted" if with_total else "uncounted"
                runs[key].append(creates(dsn, args.concurrency, args.seconds, with_total))
        if wrk is not None:
            (Path(tmp) / "stack").mkdir()
            stack = LocalStack(Path(tmp) / "stack", {"CONTENT_DATABASE_URL": url})
            stack.start()
            try:
                headers = sign_in(stack.gateway)
                script = post_script(Path(tmp))
                target = stack.url("content") + "/api/items"
                run_wrk(wrk, target, headers, args.concurrency, 2, script)
                for _ in range(args.rounds):
                    service.append(
                        run_wrk(wrk, target, headers, args.concurrency, args.seconds, script).rps
                    )
            finally:
                stack.stop()
    counted = statistics.median(rate for rate, _ in runs["counted"])
    uncounted = statistics.median(rate for rate, _ in runs["uncounted"])
    shares = [1 - c[0] / u[0] for c, u in zip(runs["counted"], runs["uncounted"], strict=True)]
    return {
        "counted": counted,
        "uncounted": uncounted,
        "counted_ms": statistics.median(ms for _, ms in runs["counted"]),
        "uncounted_ms": statistics.median(ms for _, ms in runs["uncounted"]),
        "share_pct": 100 * statistics.median(shares),
        "service": statistics.median(service) if service else None,
        "rounds": args.rounds,
        "seconds": args.seconds,
        "concurrency": args.concurrency,
        "niceness": niceness,
        "cores": os.cpu_count(),
    }


def render(r: dict[str, object]) -> str:
    def f(key: str, digits: int = 0) -> str:
        return f"{float(r[key]):,.{digits}f}"  # type: ignore[arg-type]

    service = f"{f('service')}/s" if r["service"] is not None else "not measured (no wrk)"
    return f"""{START}
## Item creates at concurrency {r["concurrency"]} on PostgreSQL, and the exact total's share

Measured by `make bench-writes` (scripts/bench_writes.py) on {time.strftime("%Y-%m-%d")},
{r["cores"]} cores shared with other work; a throwaway PostgreSQL 15 cluster with the
server's default durability (every commit flushed); niceness {r["niceness"]};
{r["rounds"]} alternating rounds of {r["seconds"]} s, medians.

| {r["concurrency"]} connections at once | creates/s | median transaction |
|---|---|---|
| a create's transaction as content runs it (INSERT, total += 1, commit) | {f("counted")} \
| {f("counted_ms", 2)} ms |
| the same without the total | {f("uncounted")} | {f("uncounted_ms", 2)} ms |

The counter's share of the database's create capacity: **{f("share_pct")} %** \
(median of the rounds' 1 - counted/uncounted).
`POST /api/items` straight to content on this database (gunicorn, 2 workers, wrk at
concurrency {r["concurrency"]}): {service}.
{END}"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nice", type=int, default=-10, help="niceness (root only; 0: off)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    section = render(measure(args))
    print(section)
    if not args.no_write:
        write_section(section, START, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
