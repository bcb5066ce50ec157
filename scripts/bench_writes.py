"""`make bench-writes`: item creates at concurrency 16 on PostgreSQL; what the exact total costs.

Starts a throwaway PostgreSQL 15 cluster (as scripts/test-postgres.sh does, but with the
server's default durability: every commit flushed), applies content's migrations, then:

- the database alone: 16 connections each running a create's transaction, the item's
  INSERT and the exact total kept as content kept it before (an UPDATE of the one
  row_counts row), as it keeps it now (a delta row, folded in now and then), and not at
  all (the floor), in alternating rounds;
- the service: `POST /api/items` straight to content under gunicorn (`make up`'s settings,
  2 workers) at concurrency 16 with wrk.

Writes the figures to docs/benchmarks.md (the "writes" section).
"""

from __future__ import annotations

import argparse
import os
import random
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

from content_service.counters import FOLD_EVERY

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


# A create's transaction, by how the exact total is kept.
TOTALS = {
    "row": "the one row_counts row updated by every create (before)",
    "deltas": "a delta row inserted by every create, folded in by about one in 32 (now)",
    "none": "no total kept (the floor)",
}
ADD_TO_ROW = "UPDATE row_counts SET total = total + 1 WHERE table_name = 'items'"
ADD_DELTA = "INSERT INTO row_count_deltas (table_name, delta) VALUES ('items', 1)"
TAKE_DELTAS = "DELETE FROM row_count_deltas WHERE table_name = 'items' RETURNING delta"
FOLD = "UPDATE row_counts SET total = total + %s WHERE table_name = 'items'"


def creates(dsn: str, concurrency: int, seconds: float, totals: str) -> tuple[float, float]:
    """Creates a second and the median transaction in ms, `concurrency` connections at once,
    each transaction the statements content runs for a create (counters.adjust)."""
    stop_at = time.monotonic() + seconds
    latencies: list[float] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        mine = []
        draw = random.Random(n)  # noqa: S311 - which creates fold, not security
        with psycopg.connect(dsn) as conn:
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                now = datetime.now(UTC)
                with conn.transaction():
                    conn.execute(INSERT, ("Benchmark lamp", "x" * 200, 25.5, n, now, now))
                    if totals == "row":
                        conn.execute(ADD_TO_ROW)
                    elif totals == "deltas":
                        conn.execute(ADD_DELTA)
                        if draw.random() < 1 / FOLD_EVERY:
                            taken = conn.execute(TAKE_DELTAS).fetchall()
                            conn.execute(FOLD, (sum(row[0] for row in taken),))
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
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in TOTALS}
    service: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-writes-") as tmp,
        postgres(Path(tmp) / "pg") as url,
    ):
        migrate(url)
        dsn = url.replace("postgresql+psycopg://", "postgresql://")
        creates(dsn, args.concurrency, 1, "deltas")  # warm
        for round_no in range(args.rounds):
            print(f"[bench] database, round {round_no + 1}/{args.rounds}", flush=True)
            order = list(TOTALS) if round_no % 2 == 0 else list(reversed(TOTALS))
            for totals in order:
                runs[totals].append(creates(dsn, args.concurrency, args.seconds, totals))
        if wrk is not None:
            (Path(tmp) / "stack").mkdir()
            stack = LocalStack(Path(tmp) / "stack", {"CONTENT_DATABASE_URL": url})
            stack.start()
            try:
                headers = sign_in(stack)
                script = post_script(Path(tmp))
                target = stack.url("content") + "/api/items"
                run_wrk(wrk, target, headers, args.concurrency, 2, script)
                for _ in range(args.rounds):
                    service.append(
                        run_wrk(wrk, target, headers, args.concurrency, args.seconds, script).rps
                    )
            finally:
                stack.stop()
    result: dict[str, object] = {}
    for name, kept in runs.items():
        result[name] = statistics.median(rate for rate, _ in kept)
        result[name + "_ms"] = statistics.median(ms for _, ms in kept)
        # The share of the floor's capacity this way of keeping the total takes.
        result[name + "_share"] = 100 * statistics.median(
            1 - mine[0] / floor[0] for mine, floor in zip(kept, runs["none"], strict=True)
        )
    return {
        **result,
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
    rows = "\n".join(
        f"| {doing} | {f(name)} | {f(name + '_ms', 2)} ms | {f(name + '_share')} % |"
        for name, doing in TOTALS.items()
    )
    return f"""{START}
## Item creates at concurrency {r["concurrency"]} on PostgreSQL, and the exact total's share

Measured by `make bench-writes` (scripts/bench_writes.py) on {time.strftime("%Y-%m-%d")},
{r["cores"]} cores shared with other work; a throwaway PostgreSQL 15 cluster with the
server's default durability (every commit flushed); niceness {r["niceness"]};
{r["rounds"]} alternating rounds of {r["seconds"]} s, medians.

| {r["concurrency"]} connections at once, a create's transaction with | creates/s \
| median transaction | share of the floor's capacity lost |
|---|---|---|---|
{rows}

`POST /api/items` straight to content on this database (its code as it is now: the delta
rows; gunicorn, 2 workers, wrk at
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
