"""/healthz stays fast while requests hang on a dead upstream (gateway under real gunicorn)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import closed_port

ROOT = Path(__file__).resolve().parents[3]
HANGING_REQUESTS = 30


class BlackHole:
    """Accepts connections and never answers: an upstream hung in the middle of a request."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.held: list[socket.socket] = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() below
        self.sock.close()
        self._acceptor.join(timeout=5)
        for conn in self.held:
            conn.close()


EDGE_WORKER = "gateway_service.worker.EdgeWorker"


@pytest.fixture(
    params=[
        ("gthread", False),
        (EDGE_WORKER, False),  # no Redis: every request is served in the worker's threads
        (EDGE_WORKER, True),  # the hanging reads wait on the worker's event loop
    ],
    ids=["gthread", "edge-threads", "edge-loop"],
)
def gateway_over_black_hole(request, redis_server) -> Iterator[tuple[str, BlackHole]]:
    worker_class, with_redis = request.param
    hole = BlackHole()
    port = closed_port()
    env = {
        **os.environ,
        "APP_ENV": "testing",
        "LOG_LEVEL": "WARNING",
        "AUTH_SERVICE_URL": hole.url,
        "CONTENT_SERVICE_URL": hole.url,
        "GUNICORN_WORKERS": "2",
        "GUNICORN_WORKER_CLASS": worker_class,
        "GUNICORN_THREADS": "32",  # what `make up` gives the gateway
        "UPSTREAM_READ_TIMEOUT": "10",
    }
    env.pop("REDIS_URL", None)
    if with_redis:
        redis_server.flushall()
        env["REDIS_URL"] = f"unix://{redis_server.socket_file}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            str(ROOT / "deploy" / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{port}",
            "gateway_service:create_app()",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1):
                break
        except OSError:
            time.sleep(0.1)
    yield url, hole
    workers = _children(process.pid)
    process.send_signal(signal.SIGINT)  # quick shutdown: the hung requests are not waited for
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    # No worker outlives its master, hung requests or not.
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in workers if _alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    hole.close()
    assert workers and not left


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _get(url: str, timeout: float) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def test_healthz_answers_quickly_while_30_requests_hang(gateway_over_black_hole):
    url, hole = gateway_over_black_hole
    shed: list[int] = []

    def hang() -> None:
        status = _get(f"{url}/api/items", 15)
        shed.append(status)

    hanging = [threading.Thread(target=hang, daemon=True) for _ in range(HANGING_REQUESTS)]
    for thread in hanging:
        thread.start()
    deadline = time.monotonic() + 10
    while len(hole.held) + len(shed) < HANGING_REQUESTS and time.monotonic() < deadline:
        time.sleep(0.05)
    # Each request is stuck upstream, or was shed at once by the per-worker bulkhead.
    assert len(hole.held) + len(shed) == HANGING_REQUESTS
    assert set(shed) <= {503}
    assert len(hole.held) >= 24
    for _ in range(5):
        started = time.monotonic()
        assert _get(f"{url}/healthz", timeout=5) == 200
        # Generous for a busy 2-core machine; a starved worker would take the full 10 s.
        assert time.monotonic() - started < 1.0
