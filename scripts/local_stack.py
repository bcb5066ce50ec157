"""The real stack for the benchmark and soak scripts, started the way `make up` starts it.

Each run gets free ports, a directory and an environment of its own (nothing exported in the
caller's shell but the machine's variables); the stack stops with the script that started
it, however that script ends (devstack's --watch-pid).
"""

from __future__ import annotations

import email
import email.policy
import mailbox
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from devstack import harness_environment

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("gateway", "auth", "content")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalStack:
    def __init__(self, base: Path, extra_env: dict[str, str] | None = None) -> None:
        self.base = base
        self.ports = {name: free_port() for name in SERVICES}
        self.env = {
            **harness_environment(os.environ),
            # Two workers a service, as in the tests: the figures include several processes.
            "GUNICORN_WORKERS": "2",
            **(extra_env or {}),
            "GATEWAY_PORT": str(self.ports["gateway"]),
            "AUTH_PORT": str(self.ports["auth"]),
            "CONTENT_PORT": str(self.ports["content"]),
            "REDIS_PORT": str(free_port()),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def verify_email(self, address: str, timeout: float = 30) -> None:
        """Follow the verification link mailed to `address`, from the stack's mail catcher."""
        folder = mailbox.Maildir(self.base / "state" / "mail", create=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in folder:
                # Decoded (quoted-printable breaks long lines, and a token, in the raw payload).
                text = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
                body = text.get_body(("plain",))
                content = body.get_content() if body is not None else ""
                found = re.search(r"/auth/web/verify\?token=([\w-]+)", content)
                if message["To"] == address and found:
                    requests.post(
                        f"{self.gateway}/auth/email/verify",
                        json={"token": found.group(1)},
                        timeout=10,
                    ).raise_for_status()
                    return
            time.sleep(0.1)
        raise RuntimeError(f"no verification mail to {address} within {timeout} s")

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def gateway(self) -> str:
        return self.url("gateway")

    def start(self, timeout: float = 120) -> None:
        log = open(self.base / "devstack.log", "wb")  # noqa: SIM115 - lives as long as the stack
        self.process = subprocess.Popen(  # noqa: S603 - our own fixed command line
            [
                sys.executable,
                str(ROOT / "scripts" / "devstack.py"),
                "up",
                "--state-dir",
                str(self.base / "state"),
                "--log-dir",
                str(self.base / "logs"),
                "--watch-pid",
                str(os.getpid()),
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()  # the child holds its own copy
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the stack did not start; see {self.base / 'devstack.log'}")
            try:
                if requests.get(self.gateway + "/readyz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass  # workers still booting
            time.sleep(0.25)
        raise RuntimeError("the stack was not ready in time")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def pids(self, name: str) -> list[int]:
        """The gunicorn master of a service (or the embedded Redis) and its children."""
        return process_tree(int((self.base / "state" / "run" / f"{name}.pid").read_text()))


def process_tree(pid: int) -> list[int]:
    """A process and its children (gunicorn's master and workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [pid, *(int(p) for p in children.read_text().split())] if children.exists() else [pid]
