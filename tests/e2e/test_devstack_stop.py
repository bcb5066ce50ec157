"""`make up` (scripts/devstack.py) leaves no process and no port behind, however it is stopped.

Each run marks its stack with a variable of its own in the environment every child inherits,
so a process left behind is found wherever it went (reparented, in a session of its own).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import DEVSTACK, free_port, harness_environment

MARK = "SUITE_DEVSTACK_RUN"

# Moments of start-up, told by what devstack has written or done so far.
MOMENTS: dict[str, Callable[[str, Path], bool]] = {
    "migrating": lambda out, run: "applying content migrations" in out,
    "services booting": lambda out, run: (run / "gateway.pid").exists(),
    "ready": lambda out, run: "[devstack] ready:" in out,
}


@dataclass
class Run:
    """One devstack, started as `make up` starts it, with its ports and its mark."""

    base: Path
    mark: str
    ports: dict[str, int]
    process: subprocess.Popen[bytes]

    @property
    def output(self) -> str:
        path = self.base / "devstack.out"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_for(self, moment: str, timeout: float = 120) -> None:
        reached = MOMENTS[moment]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if reached(self.output, self.base / "state" / "run"):
                return
            time.sleep(0.02)
        raise AssertionError(f"devstack never reached {moment!r}:\n{self.output}")


def marked_processes(mark: str) -> list[int]:
    """Every live process on the machine whose environment carries this run's mark."""
    needle = f"{MARK}={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()  # empty for a zombie: it is gone
        except OSError:
            continue  # ended meanwhile, or not ours to read
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as a server would
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
        except OSError:
            return False
        return True


@pytest.fixture
def start_devstack(tmp_path: Path) -> Iterator[Callable[..., Run]]:
    runs: list[Run] = []

    def start(wrapper: list[str] | None = None) -> Run:
        mark = uuid.uuid4().hex
        ports = {name: free_port() for name in ("gateway", "auth", "content", "redis")}
        env = {
            **harness_environment(os.environ),
            MARK: mark,
            "GATEWAY_PORT": str(ports["gateway"]),
            "AUTH_PORT": str(ports["auth"]),
            "CONTENT_PORT": str(ports["content"]),
            "REDIS_PORT": str(ports["redis"]),
        }
        base = tmp_path / mark
        base.mkdir()
        command = [sys.executable, str(DEVSTACK), "up", "--state-dir", str(base / "state")]
        with open(base / "devstack.out", "wb") as out:
            process = subprocess.Popen(
                [*(wrapper or []), *command], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        runs.append(Run(base, mark, ports, process))
        return runs[-1]

    yield start
    for run in runs:  # a failed test still leaves nothing running
        for pid in marked_processes(run.mark):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if run.process.poll() is None:
            run.process.kill()
        run.process.wait()


def assert_nothing_left(run: Run, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while marked_processes(run.mark) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = marked_processes(run.mark)
    commands = [Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ") for pid in left]
    assert left == [], f"processes left: {commands}\n{run.output}"
    taken = [name for name, port in run.ports.items() if not port_is_free(port)]
    assert taken == [], f"ports still taken: {taken}\n{run.output}"


@pytest.mark.parametrize("moment", list(MOMENTS))
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=str)
def test_a_stop_signal_at_any_moment_stops_everything(
    start_devstack: Callable[..., Run], moment: str, signum: signal.Signals
) -> None:
    run = start_devstack()
    run.wait_for(moment)
    assert marked_processes(run.mark), "the stack had started processes"
    run.process.send_signal(signum)
    assert run.process.wait(timeout=60) == 0, run.output
    assert "[devstack] stopped" in run.output
    assert_nothing_left(run)


@pytest.mark.parametrize("moment", ["migrating", "ready"])
def test_the_death_of_its_parent_stops_everything(
    start_devstack: Callable[..., Run], moment: str
) -> None:
    # make, an IDE or a CI runner killed outright: devstack is left without the process
    # that started it, and nothing would ever stop it.
    parent = [sys.executable, "-c", "import subprocess, sys; subprocess.run(sys.argv[1:])"]
    run = start_devstack(wrapper=parent)
    run.wait_for(moment)
    run.process.kill()
    run.process.wait()
    assert_nothing_left(run)
    assert "is gone: stopping the stack" in run.output
    assert "[devstack] stopped" in run.output


def test_devstack_killed_outright_takes_its_children_along(
    start_devstack: Callable[..., Run],
) -> None:
    run = start_devstack()
    run.wait_for("ready")
    run.process.kill()  # no handler runs: the children learn it from the kernel
    run.process.wait()
    assert_nothing_left(run)
