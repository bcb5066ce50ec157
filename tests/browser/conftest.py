"""Browser fixtures: the real stack, a second local origin for CORS, and headless Chromium.

Chromium is Debian's (/usr/bin/chromium, installed by scripts/install-browser.sh), driven
by Playwright; Playwright never downloads a browser of its own here.
"""

from __future__ import annotations

import importlib.util
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PASSWORD = "correct horse battery staple"


def _load_e2e_fixtures():
    # The end-to-end conftest owns RunningStack; load that file itself rather than copy it.
    path = HERE.parent / "e2e" / "conftest.py"
    spec = importlib.util.spec_from_file_location("e2e_fixtures", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_e2e = _load_e2e_fixtures()
RunningStack = _e2e.RunningStack
free_port = _e2e.free_port
verify_email = _e2e.verify_email
wait_for_mail = _e2e.wait_for_mail
link_in = _e2e.link_in
MAIL_DIRS = _e2e.MAIL_DIRS


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class StaticSite:
    """One static server; its page is reached as two origins: localhost and 127.0.0.1."""

    port: int

    @property
    def listed_origin(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def unlisted_origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="session")
def static_site() -> Iterator[StaticSite]:
    handler = partial(_QuietHandler, directory=str(HERE / "site"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield StaticSite(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, static_site: StaticSite) -> Iterator:
    # Its own stack: only this suite needs the static site's origin among CORS_ORIGINS.
    running = RunningStack(
        tmp_path_factory.mktemp("browser-stack"),
        extra_env={"CORS_ORIGINS": static_site.listed_origin, "APP_ENV": "development"},
    )
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    # Playwright starts Chromium with a fresh temporary user-data directory of its own.
    chromium = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    yield chromium
    chromium.close()


@pytest.fixture
def browser_context(browser: Browser) -> Iterator[BrowserContext]:
    """A context of its own for each test: no cookie or request of another test leaks in."""
    context = browser.new_context(viewport={"width": 1024, "height": 720}, accept_downloads=True)
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def page(browser_context: BrowserContext) -> Iterator[Page]:
    """A new tab, signed out."""
    yield browser_context.new_page()


@pytest.fixture
def gateway(stack) -> str:
    return stack.gateway


@pytest.fixture
def new_user() -> dict[str, str]:
    name = "b" + uuid.uuid4().hex[:10]
    return {"username": name, "email": f"{name}@example.com", "password": PASSWORD}


@pytest.fixture
def screenshot():
    """Save the whole page as docs/screenshots/<name>.png (the README shows them)."""

    def take(page: Page, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return take
