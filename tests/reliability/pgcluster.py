"""A throwaway PostgreSQL cluster from the machine's server binaries, for restart tests.

initdb refuses to run as root, so as root every server command runs as the `postgres`
user; the cluster lives in its own temporary directory and listens on loopback only.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

PG_BINARIES = sorted(Path("/usr/lib/postgresql").glob("*/bin"))


class PostgresCluster:
    def __init__(self) -> None:
        self.bin = PG_BINARIES[-1]
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="reliability-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=120)

    def create(self, *databases: str) -> PostgresCluster:
        self.socket_dir.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.socket_dir, "postgres")
        self._run("initdb", "-D", str(self.data), "--auth=trust", "-U", self.user, "-E", "UTF8")
        self.start()
        for name in databases:
            self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name)
        return self

    def start(self) -> None:
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -F"
        # -l: the server must not inherit our pipes, or waiting for pg_ctl never ends.
        log = str(self.root / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=False)

    def restart(self) -> None:
        # immediate: the server drops every connection at once, as a crash would.
        self.stop("immediate")
        self.start()

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
