"""The gateway under real gunicorn with its EdgeWorker: /healthz stays fast while 50 clients
hold slow uploads and hung upstream calls, memory stays flat under oversized heads, and no
worker outlives its master."""

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
EDGE_WORKER = "gateway_service.worker.EdgeWorker"


class BlackHole:
    """Accepts connections and never answers: an upstream hung in the middle of a request."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
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
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() above
        self.sock.close()
        self._acceptor.join(timeout=5)
        for conn in self.held:
            conn.close()


@pytest.fixture(scope="module")
def gateway(redis_server) -> Iterator[tuple[int, BlackHole, list[int]]]:
    hole = BlackHole()
    port = closed_port()
    env = {
        **os.environ,
        "APP_ENV": "testing",
        "LOG_LEVEL": "WARNING",
        "AUTH_SERVICE_URL": hole.url,
        "CONTENT_SERVICE_URL": hole.url,
        "GUNICORN_WORKERS": "1",
        "GUNICORN_WORKER_CLASS": EDGE_WORKER,
        "GUNICORN_THREADS": "32",
        "UPSTREAM_READ_TIMEOUT": "20",
        "REQUEST_BODY_TIMEOUT": "20",
        "REDIS_URL": f"unix://{redis_server.socket_file}",
    }
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
    deadline = time.monotonic() + 90  # a busy machine imports slowly
    while _get(port, "/healthz", 1) != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = _children(process.pid)
    yield port, hole, workers
    process.send_signal(signal.SIGINT)  # quick shutdown: the hung requests are not waited for
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in workers if _alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    hole.close()
    assert workers and not left  # no worker outlives its master, hung requests or not


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


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _get(port: int, path: str, timeout: float) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def test_healthz_answers_within_100_ms_while_50_clients_hold_uploads_and_hung_calls(gateway):
    port, hole, _ = gateway
    held: list[socket.socket] = []
    for _ in range(25):  # slow uploads: a head and a little of a body, then nothing
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"POST /api/items HTTP/1.1\r\nHost: g\r\nContent-Length: 1000\r\n\r\nab")
        held.append(sock)
    for _ in range(25):  # reads hung on an upstream that never answers
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"GET /api/items HTTP/1.1\r\nHost: g\r\n\r\n")
        held.append(sock)
    try:
        deadline = time.monotonic() + 10
        while len(hole.held) < 25 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(hole.held) == 25  # the reads are upstream; no upload reached it
        timings = []
        for _ in range(7):
            started = time.monotonic()
            assert _get(port, "/healthz", timeout=5) == 200
            timings.append(time.monotonic() - started)
        assert sorted(timings)[3] < 0.1  # the median
    finally:
        for sock in held:
            sock.close()


def test_memory_stays_flat_under_many_oversized_heads(gateway):
    port, _, workers = gateway
    before = sum(_rss_kib(pid) for pid in workers)

    def bomb() -> None:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"GET /api/items HTTP/1.1\r\nHost: g\r\nX-Big: ")
            try:
                for _ in range(8 * 1024):  # 8 MiB each, if it were read
                    sock.sendall(b"b" * 1024)
            except OSError:
                return

    bombs = [threading.Thread(target=bomb) for _ in range(50)]
    for thread in bombs:
        thread.start()
    for thread in bombs:
        thread.join(30)
    after = sum(_rss_kib(pid) for pid in workers)
    assert after - before < 20 * 1024  # 50 clients x 8 MiB would be 400 MiB
    assert _get(port, "/healthz", 5) == 200
