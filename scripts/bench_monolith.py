"""`make bench-monolith`: the suite against the monolith it replaces, in one run.

The monolith is the seed's "RESTful API Example" (scripts/seed_monolith.py: Flask,
Flask-SQLAlchemy, SQLite, 2 sync gunicorn workers, no auth). Beside it the real stack runs
as `make up` starts it. The same load generator (wrk, installed from Debian's packages
when missing and we may) loads, in alternating rounds:

- an item GET: the monolith bare, content direct and through the gateway, both with a
  bearer token; at concurrency 16 (requests/s) and 1 (median latency);
- a list of 20 items: the monolith's whole table (20 rows) and a page of 20 of content's,
  direct and through the gateway;
- item creates: the monolith, content direct and through the gateway (SQLite everywhere).

First, alone, it starts the stack as a bare `make up` does and sums the resident memory
of every process at rest. The
figures and their ratios go to docs/benchmarks.md (the "monolith" section).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests
from bench_gateway import ensure_wrk, raise_priority
from local_stack import LocalStack, free_port
from stack_memory import StackMemory, stack_memory

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- monolith-bench:start -->", "<!-- monolith-bench:end -->"
ITEMS = 20  # the monolith's list is its whole table: 20 rows, as a page of content's
ITEM_BODY = '{"name": "Benchmark lamp", "description": "%s", "price": 25.5}' % ("x" * 200)
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}

# Targets of issue 20, as (measure, at least or at most).
TARGETS = {
    "content_get_ratio": 0.9,
    "gateway_list_ratio": 0.5,
    "gateway_create_ratio": 0.8,
    "content_get_c1_ms": 0.8,  # at most
    "idle_rss_mib": 400.0,  # at most
}


@dataclass
class Run:
    rps: float
    median_ms: float
    requests: int
    errors: int


def run_wrk(
    wrk: str,
    url: str,
    headers: dict[str, str],
    concurrency: int,
    seconds: int,
    script: Path | None = None,
) -> Run:
    args = [wrk, "-t", str(min(2, concurrency)), "-c", str(concurrency), "-d", f"{seconds}s"]
    for key, value in headers.items():
        args += ["-H", f"{key}: {value}"]
    if script is not None:
        args += ["-s", str(script)]
    out = subprocess.run(  # noqa: S603 - fixed arguments
        [*args, "--latency", url], capture_output=True, text=True, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"50%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Run(rps, float(value) * _UNITS[unit], done, int(bad.group(1)) if bad else 0)


def post_script(base: Path) -> Path:
    """A wrk script that sends every request as the same JSON POST."""
    script = base / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = '{ITEM_BODY}'\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    return script


def start_monolith(base: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "MONOLITH_DATABASE_URL": f"sqlite:///{base / 'api.db'}"}
    subprocess.run(  # noqa: S603 - our own fixed command line
        [sys.executable, str(ROOT / "scripts" / "seed_monolith.py"), "create-tables"],
        env=env,
        check=True,
    )
    log = open(base / "monolith.log", "wb")  # noqa: SIM115 - lives as long as the monolith
    process = subprocess.Popen(  # noqa: S603 - our own fixed command line
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "--workers",
            "2",
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{port}",
            "--pythonpath",
            str(ROOT / "scripts"),
            "seed_monolith:app",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(url + "/api/items", timeout=2).raise_for_status()
            return process, url
        except requests.RequestException:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the monolith did not start; see {base / 'monolith.log'}")


def sign_in(stack: LocalStack) -> dict[str, str]:
    gateway = stack.gateway
    name = "bench" + uuid.uuid4().hex[:8]
    password = "bench password " + uuid.uuid4().hex[:6]
    requests.post(
        f"{gateway}/auth/register",
        json={"username": name, "email": f"{name}@example.com", "password": password},
        timeout=10,
    ).raise_for_status()
    stack.verify_email(f"{name}@example.com")  # content takes writes from verified accounts
    tokens = requests.post(
        f"{gateway}/auth/login", json={"username": name, "password": password}, timeout=10
    )
    tokens.raise_for_status()
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


def fill(url: str, headers: dict[str, str]) -> int:
    """Create ITEMS items; the last one's id."""
    item_id = 0
    for _ in range(ITEMS):
        created = requests.post(
            url + "/api/items",
            data=ITEM_BODY,
            headers={**headers, "Content-Type": "application/json"},
            timeout=10,
        )
        created.raise_for_status()
        item_id = created.json()["id"]
    return item_id


def idle_memory(base: Path, settle: float) -> StackMemory:
    """The stack as a bare `make up` starts it (its defaults: one worker a service), at rest."""
    base.mkdir()
    stack = LocalStack(base, {"GUNICORN_WORKERS": "1"})
    stack.start()
    try:
        time.sleep(settle)  # workers booted, start-up work done, nothing in flight
        return stack_memory(stack.process.pid)  # type: ignore[union-attr]
    finally:
        stack.stop()


def measure(args: argparse.Namespace) -> dict[str, object]:
    niceness = raise_priority(args.nice)
    wrk = ensure_wrk()
    if wrk is None:
        raise SystemExit("wrk is needed (apt-get install wrk)")
    with tempfile.TemporaryDirectory(prefix="bench-monolith-") as tmp:
        base = Path(tmp)
        (base / "load").mkdir()
        settings = {
            "RATE_LIMIT": "100000000/minute",
            "RATE_LIMIT_ANONYMOUS": "100000000/minute",
            "GATEWAY_WORKERS": str(args.gateway_workers),
        }
        memory = idle_memory(base / "idle", args.settle)
        stack = LocalStack(base / "load", settings)
        stack.start()
        monolith = None
        try:
            monolith, monolith_url = start_monolith(base)
            headers = sign_in(stack)
            content, gateway = stack.url("content"), stack.gateway
            item_id = fill(content, headers)
            monolith_id = fill(monolith_url, {})
            post = post_script(base)
            targets = {
                "monolith_get": (f"{monolith_url}/api/items/{monolith_id}", {}, None),
                "content_get": (f"{content}/api/items/{item_id}", headers, None),
                "gateway_get": (f"{gateway}/api/items/{item_id}", headers, None),
                "monolith_list": (f"{monolith_url}/api/items", {}, None),
                "content_list": (f"{content}/api/items?per_page={ITEMS}", headers, None),
                "gateway_list": (f"{gateway}/api/items?per_page={ITEMS}", headers, None),
            }
            creates = {
                "monolith_create": (f"{monolith_url}/api/items", {}, post),
                "content_create": (f"{content}/api/items", headers, post),
                "gateway_create": (f"{gateway}/api/items", headers, post),
            }
            for url, hdrs, _ in targets.values():
                run_wrk(wrk, url, hdrs, args.concurrency, 2)  # warm: pools filled, keys fetched
            runs: dict[str, list[Run]] = {}
            for round_no in range(args.rounds):
                print(f"[bench] reads, round {round_no + 1}/{args.rounds}", flush=True)
                order = list(targets) if round_no % 2 == 0 else list(reversed(targets))
                for name in order:
                    url, hdrs, _ = targets[name]
                    runs.setdefault(name, []).append(
                        run_wrk(wrk, url, hdrs, args.concurrency, args.seconds)
                    )
                for name in ("monolith_get", "content_get", "gateway_get"):
                    url, hdrs, _ = targets[name]
                    runs.setdefault(name + "_c1", []).append(
                        run_wrk(wrk, url, hdrs, 1, args.seconds)
                    )
            # Creates last: the lists above read exactly ITEMS rows in the monolith.
            for round_no in range(args.rounds):
                print(f"[bench] creates, round {round_no + 1}/{args.rounds}", flush=True)
                order = list(creates) if round_no % 2 == 0 else list(reversed(creates))
                for name in order:
                    url, hdrs, script = creates[name]
                    runs.setdefault(name, []).append(
                        run_wrk(wrk, url, hdrs, args.concurrency, args.seconds, script)
                    )
        finally:
            if monolith is not None:
                monolith.terminate()
                monolith.wait(timeout=30)
            stack.stop()
    return summarise(runs, memory, args, niceness, wrk)


def summarise(
    runs: dict[str, list[Run]],
    memory: StackMemory,
    args: argparse.Namespace,
    niceness: int,
    wrk: str,
) -> dict[str, object]:
    def rps(name: str) -> float:
        return statistics.median(run.rps for run in runs[name])

    def ratio(suite: str, monolith: str) -> float:
        """The median of the rounds' ratios, each of two runs of the same round."""
        pairs = zip(runs[suite], runs[monolith], strict=True)
        return statistics.median(s.rps / m.rps for s, m in pairs)

    result: dict[str, object] = {name: rps(name) for name in runs if not name.endswith("_c1")}
    for name in ("monolith_get", "content_get", "gateway_get"):
        result[name + "_c1_ms"] = statistics.median(run.median_ms for run in runs[name + "_c1"])
    for kind in ("get", "list", "create"):
        for side in ("content", "gateway"):
            result[f"{side}_{kind}_ratio"] = ratio(f"{side}_{kind}", f"monolith_{kind}")
    result.update(
        errors=sum(run.errors for name in runs for run in runs[name]),
        memory=memory,
        settle=args.settle,
        rounds=args.rounds,
        seconds=args.seconds,
        concurrency=args.concurrency,
        gateway_workers=args.gateway_workers,
        niceness=niceness,
        generator=_wrk_version(wrk),
        cores=os.cpu_count(),
    )
    return result


def _wrk_version(wrk: str) -> str:
    done = subprocess.run([wrk, "-v"], capture_output=True, text=True)  # noqa: S603
    found = re.search(r"wrk (\S+)", done.stdout + done.stderr)
    return f"wrk {found.group(1)}" if found else "wrk"


def render(r: dict[str, object]) -> str:
    def f(key: str, digits: int = 0) -> str:
        return f"{float(r[key]):,.{digits}f}"  # type: ignore[arg-type]

    def verdict(key: str, at_most: bool = False) -> str:
        value = float(r[key])  # type: ignore[arg-type]
        target = TARGETS[key]
        met = value <= target if at_most else value >= target
        bound = "at most" if at_most else "at least"
        return f"target {bound} {target:g}: {'met' if met else 'missed'}"

    memory: StackMemory = r["memory"]  # type: ignore[assignment]
    rows = "\n".join(
        f"| {name} | {count} | {rss:,.1f} MiB | {pss:,.1f} MiB |"
        for name, count, rss, pss in memory.rows()
    )
    r["idle_rss_mib"] = memory.rss_mib
    return f"""{START}
## The suite against the seed's monolith: item reads, list pages, creates, idle memory

Measured by `make bench-monolith` (scripts/bench_monolith.py) on {time.strftime("%Y-%m-%d")},
{r["cores"]} cores shared by the load generator, the monolith and the whole stack. The
monolith is the seed document's "RESTful API Example" (scripts/seed_monolith.py: Flask,
Flask-SQLAlchemy, SQLite, 2 sync gunicorn workers, no authentication). The suite runs with
`make up`'s settings (2 workers for auth (gthread) and content (gevent),
{r["gateway_workers"]} for the gateway, JSON access logs, metrics, rate limiting high enough
not to refuse) and every
suite request carries a valid bearer token. Load generator: {r["generator"]}, niceness
{r["niceness"]}; {r["rounds"]} rounds of {r["seconds"]} s per target in alternating order;
figures are medians of the rounds, ratios the medians of each round's ratio.

| request (concurrency {r["concurrency"]}) | seed monolith | content direct | through the gateway |
|---|---|---|---|
| `GET /api/items/<id>` | {f("monolith_get")}/s | {f("content_get")}/s: \
**{f("content_get_ratio", 2)}x** ({verdict("content_get_ratio")}) \
| {f("gateway_get")}/s: {f("gateway_get_ratio", 2)}x |
| list of 20 (the monolith's whole table; a page of content's) | {f("monolith_list")}/s \
| {f("content_list")}/s: {f("content_list_ratio", 2)}x | {f("gateway_list")}/s: \
**{f("gateway_list_ratio", 2)}x** ({verdict("gateway_list_ratio")}) |
| `POST /api/items` (SQLite) | {f("monolith_create")}/s | {f("content_create")}/s: \
{f("content_create_ratio", 2)}x | {f("gateway_create")}/s: **{f("gateway_create_ratio", 2)}x** \
({verdict("gateway_create_ratio")}) |
| median latency of the item GET at concurrency 1 | {f("monolith_get_c1_ms", 2)} ms \
| **{f("content_get_c1_ms", 2)} ms** ({verdict("content_get_c1_ms", at_most=True)}) \
| {f("gateway_get_c1_ms", 2)} ms |

Error answers during the run: {r["errors"]}.

Idle memory of the `make up` stack (its own defaults: one gunicorn worker a service; started
alone before the load, at rest for {r["settle"]:g} s; every process, the supervisor
included): **{memory.rss_mib:,.1f} MiB** resident in all \
({verdict("idle_rss_mib", at_most=True)}); {memory.pss_mib:,.1f} MiB proportional
(PSS: pages shared between a gunicorn master and its forked workers counted once).

| process | count | RSS | PSS |
|---|---|---|---|
{rows}
{END}"""


def write_section(section: str, start: str = START, end: str = END) -> None:
    """Put a section between its markers in docs/benchmarks.md (at the end if it has none)."""
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOC.write_text(text)
    print(f"[bench] written to {DOC.relative_to(ROOT)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--settle", type=float, default=5, help="seconds before memory is read")
    parser.add_argument("--gateway-workers", type=int, default=1, help="gateway processes")
    parser.add_argument(
        "--nice", type=int, default=-10, help="niceness of the stack and wrk (root only; 0: off)"
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    section = render(measure(args))
    print(section)
    if not args.no_write:
        write_section(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
