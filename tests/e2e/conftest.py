"""End-to-end fixtures: the real stack (embedded Redis, auth, content, gateway under gunicorn).

The stack is started with the same script as `make up`, on free ports, in a temporary
directory, with each process logging to its own file so tests can read the logs. Its
environment is its own: the machine's variables (PATH, HOME, locale) and nothing of the
suite's settings exported in the caller's shell, except what E2E_ENV_<NAME> hands over
on purpose (`make test-postgres` gives the databases' URLs that way).

With E2E_GATEWAY_URL set, the session `stack` is one already running elsewhere (the
containers of `make test-containers`): E2E_AUTH_URL and E2E_CONTENT_URL name the services,
E2E_LOG_DIR holds `<service>.log`, E2E_ENV_<NAME> gives `stack.env[NAME]`. Only tests on the
session `stack` run then: those with a stack of their own are deselected, and so are those
marked `local_stack` (they stop the session stack's processes or read its files).
"""

from __future__ import annotations

import email
import email.policy
import importlib.util
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import BinaryIO

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
DEVSTACK = ROOT / "scripts" / "devstack.py"
# How long a stack may take to be ready; a machine shared with other work may need more.
START_SECONDS = float(os.environ.get("E2E_START_SECONDS", "120"))


def _load_devstack():
    # The script `make up` runs owns what a stack inherits; load that file rather than copy it.
    spec = importlib.util.spec_from_file_location("devstack", DEVSTACK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


devstack = _load_devstack()
harness_environment = devstack.harness_environment


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def databases_of_its_own(env: dict[str, str]) -> dict[str, str]:
    """Fresh PostgreSQL databases for one stack (SQLite files are per stack already).

    Stacks that run at the same time must not share a database: one stack's outbox relay
    would deliver another stack's mail and events, through its own mail server."""
    own = {}
    for name in ("AUTH_DATABASE_URL", "CONTENT_DATABASE_URL"):
        value = env.get(name, "")
        if not value.startswith("postgresql"):
            continue
        url = make_url(value)
        fresh = f"{url.database}_{uuid.uuid4().hex[:8]}"
        server = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            with server.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{fresh}"'))
        finally:
            server.dispose()
        own[name] = url.set(database=fresh).render_as_string(hide_password=False)
    return own


class RunningStack:
    def __init__(self, base_dir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.state_dir = base_dir / "state"
        self.log_dir = base_dir / "logs"
        self.ports = {name: free_port() for name in ("gateway", "auth", "content")}
        self.env = {
            **harness_environment(os.environ),
            "GATEWAY_PORT": str(self.ports["gateway"]),
            "AUTH_PORT": str(self.ports["auth"]),
            "CONTENT_PORT": str(self.ports["content"]),
            "REDIS_PORT": str(free_port()),
            "MAIL_CATCHER_PORT": str(free_port()),
            "GUNICORN_WORKERS": "2",
            "UPSTREAM_READ_TIMEOUT": "5",
            # Every test client is 127.0.0.1: the gateway's per-address limit would throttle
            # the suite itself. Tests of rate limiting start a stack with their own limits.
            "RATE_LIMIT": "100000/minute",
            "RATE_LIMIT_ANONYMOUS": "100000/minute",
            # Auth's outbox relay's client secret, as an operator provides it; tests that
            # act as the relay read it here.
            "RELAY_CLIENT_SECRET": secrets.token_urlsafe(32),
            **(extra_env or {}),
        }
        self.env.update(databases_of_its_own(self.env))
        self.process: subprocess.Popen[bytes] | None = None
        self._output: BinaryIO | None = None

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    @property
    def mail_dir(self) -> Path:
        """The Maildir where the stack's mail catcher keeps every mail auth sent."""
        return self.state_dir / "mail"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._output = open(self.log_dir / "devstack.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(DEVSTACK),
                "up",
                "--state-dir",
                str(self.state_dir),
                "--log-dir",
                str(self.log_dir),
                "--keep-running",
                "--watch-pid",
                str(os.getpid()),
                "--ready-timeout",
                str(START_SECONDS - 30),
            ],
            env=self.env,
            stdout=self._output,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("stack failed to start:\n" + self.log("devstack"))
            # devstack's own verdict, not only our /readyz: until devstack has seen the stack
            # ready, a service stopped by a test makes it stop the whole stack.
            if "[devstack] ready:" in self.log("devstack"):
                try:
                    if requests.get(self.gateway + "/readyz", timeout=2).status_code == 200:
                        MAIL_DIRS[self.gateway] = self.mail_dir
                        return
                except requests.RequestException:
                    pass  # workers still booting
            time.sleep(0.25)
        raise RuntimeError("stack not ready in time:\n" + self.log("devstack"))

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._output is not None:
            self._output.close()

    def kill_service(self, name: str) -> None:
        """Stop one service the way an operator would (SIGTERM), and wait until it is gone."""
        pid = int((self.state_dir / "run" / f"{name}.pid").read_text())
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return  # devstack, its parent, has reaped it
            time.sleep(0.1)
        raise RuntimeError(f"{name} did not stop")

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


# Each running stack's mail folder by its gateway, for helpers given only a gateway URL.
MAIL_DIRS: dict[str, Path] = {}
if os.environ.get("E2E_GATEWAY_URL") and os.environ.get("E2E_MAIL_DIR"):
    MAIL_DIRS[os.environ["E2E_GATEWAY_URL"].rstrip("/")] = Path(os.environ["E2E_MAIL_DIR"])


def caught_mail(mail_dir: Path) -> list[EmailMessage]:
    """Every mail in a Maildir (the development catcher's folder), oldest first."""
    messages = []
    for folder in ("new", "cur"):
        for path in sorted((mail_dir / folder).glob("*")) if (mail_dir / folder).is_dir() else []:
            parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            messages.append((path.stat().st_mtime_ns, parsed))
    return [message for _, message in sorted(messages, key=lambda pair: pair[0])]


def wait_for_mail(
    mail_dir: Path, to: str, subject: str, timeout: float = 30, skip: int = 0
) -> EmailMessage:
    """The first mail to `to` whose subject contains `subject`, after `skip` such mails."""
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in caught_mail(mail_dir) if m["To"] == to and subject in str(m["Subject"])]
        if len(found) > skip:
            return found[skip]  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"no mail to {to} about {subject!r} within {timeout} s")
        time.sleep(0.1)


def hidden_fields(html: str) -> dict[str, str]:
    """A hosted page's hidden form fields (its CSRF token among them), by name."""
    fields = re.findall(r'<input[^>]*name="([^"]+)"[^>]*type="hidden"[^>]*value="([^"]*)"', html)
    fields += [
        (name, value)
        for value, name in re.findall(
            r'<input[^>]*type="hidden"[^>]*value="([^"]*)"[^>]*name="([^"]+)"', html
        )
    ]
    return dict(fields)


def link_in(message: EmailMessage, path: str) -> tuple[str, str]:
    """The link to `path` in a mail, and its token."""
    text = message.get_content()  # type: ignore[attr-defined]
    match = re.search(rf"(https?://\S+{re.escape(path)}\?token=([A-Za-z0-9_-]+))", text)
    assert match, text
    return match.group(1), match.group(2)


def verify_email(gateway: str, address: str) -> None:
    """Confirm an address the way its owner does: with the link from the caught mail."""
    message = wait_for_mail(MAIL_DIRS[gateway.rstrip("/")], address, "confirm your e-mail")
    _, token = link_in(message, "/auth/web/verify")
    response = requests.post(f"{gateway}/auth/email/verify", json={"token": token}, timeout=10)
    assert response.status_code == 200, response.text


class ExternalStack:
    """A stack this process did not start and must not stop, found through E2E_* variables."""

    def __init__(self, gateway: str) -> None:
        self.gateway = gateway.rstrip("/")
        # The stack's settings a test may use, e.g. its database for an admin command:
        # E2E_ENV_AUTH_DATABASE_URL becomes env["AUTH_DATABASE_URL"].
        self.env = {
            name.removeprefix("E2E_ENV_"): value
            for name, value in os.environ.items()
            if name.startswith("E2E_ENV_")
        }

    def url(self, service: str) -> str:
        if service == "gateway":
            return self.gateway
        return os.environ[f"E2E_{service.upper()}_URL"].rstrip("/")

    def log(self, name: str) -> str:
        path = Path(os.environ.get("E2E_LOG_DIR", "")) / f"{name}.log"
        return path.read_text(errors="replace") if path.is_file() else ""

    def __getattr__(self, name: str) -> object:
        # env, ports, state_dir, kill_service...: only a stack this process started has them.
        raise AttributeError(
            f"the stack is external (E2E_GATEWAY_URL) and has no {name!r}; "
            "mark the test with @pytest.mark.local_stack"
        )


EXTERNAL_GATEWAY = os.environ.get("E2E_GATEWAY_URL")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "local_stack: stops processes or starts its own stack; needs a local stack"
    )


def runs_on_external_stack(item: pytest.Item) -> bool:
    # Tests on a stack of their own already ran under `make test`; they say nothing new here.
    uses_session_stack = "stack" in getattr(item, "fixturenames", ())
    return uses_session_stack and not item.get_closest_marker("local_stack")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not EXTERNAL_GATEWAY:
        return
    elsewhere = [item for item in items if not runs_on_external_stack(item)]
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
        items[:] = [item for item in items if runs_on_external_stack(item)]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack | ExternalStack]:
    if EXTERNAL_GATEWAY:
        yield ExternalStack(EXTERNAL_GATEWAY)
        return
    running = RunningStack(tmp_path_factory.mktemp("stack"))
    running.start()
    yield running
    running.stop()


@pytest.fixture
def gateway(stack: RunningStack) -> str:
    return stack.gateway


@pytest.fixture
def user(gateway: str) -> dict:
    """A freshly registered account, logged in: {account, tokens, headers, password}."""
    name = "u" + uuid.uuid4().hex[:12]
    password = "correct horse " + uuid.uuid4().hex[:6]
    account = requests.post(
        f"{gateway}/auth/register",
        json={"username": name, "email": f"{name}@example.com", "password": password},
        timeout=10,
    )
    assert account.status_code == 201, account.text
    verify_email(gateway, f"{name}@example.com")  # content takes writes from verified accounts
    tokens = requests.post(
        f"{gateway}/auth/login", json={"username": name, "password": password}, timeout=10
    )
    assert tokens.status_code == 200, tokens.text
    pair = tokens.json()
    return {
        "account": account.json(),
        "tokens": pair,
        "password": password,
        "headers": {"Authorization": f"Bearer {pair['access_token']}"},
    }
