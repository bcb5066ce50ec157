"""The gateway reaching the services by host name, as compose and Kubernetes have it
(http://auth:8001): one client's cookies never ride on another client's requests.

The gateway's upstream client speaks for every client at once. A client-side cookie jar
in it would keep the cookies auth sets on one client's login and send them with the next
client's requests. Cookie jars keep no cookie an IP address sets, so the stack here reaches
auth and content as `localhost`, a name, like a real deployment.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests
from conftest import RunningStack, hidden_fields

PASSWORD = "upstream by name passphrase"


@pytest.fixture(scope="module")
def named_stack(tmp_path_factory) -> Iterator[RunningStack]:
    running = RunningStack(tmp_path_factory.mktemp("stack-upstreams-by-name"))
    for service in ("auth", "content"):
        url = f"http://localhost:{running.ports[service]}"
        running.env[f"GATEWAY_{service.upper()}_SERVICE_URL"] = url
    running.start()
    yield running
    running.stop()


def log_in_on_the_hosted_page(gateway: str) -> tuple[requests.Session, str]:
    """A browser's session after the hosted login page (its cookies set), and its name."""
    name = "n" + uuid.uuid4().hex[:10]
    account = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    assert requests.post(f"{gateway}/auth/register", json=account, timeout=10).status_code == 201
    browser = requests.Session()
    page = browser.get(f"{gateway}/auth/web/login", timeout=10)
    assert page.status_code == 200
    done = browser.post(
        f"{gateway}/auth/web/login",
        data={**hidden_fields(page.text), "username": name, "password": PASSWORD},
        allow_redirects=False,
        timeout=10,
    )
    assert done.status_code in (302, 303), done.text
    assert "access_token_cookie" in browser.cookies
    return browser, name


def test_login_cookies_stay_with_their_own_clients(named_stack: RunningStack) -> None:
    gateway = named_stack.gateway
    alice, alice_name = log_in_on_the_hosted_page(gateway)
    bob, bob_name = log_in_on_the_hosted_page(gateway)  # his own form, his own session
    for browser, name in ((alice, alice_name), (bob, bob_name), (alice, alice_name)):
        me = browser.get(f"{gateway}/auth/me", timeout=10)
        assert me.status_code == 200
        assert me.json()["username"] == name

    # Alice's browser trades its refresh cookie for new tokens: set in a GET's answer, as
    # the login's were in a POST's (the gateway's two upstream sessions, pooled and not).
    refreshed = alice.get(f"{gateway}/auth/web/refresh", allow_redirects=False, timeout=10)
    assert refreshed.status_code in (302, 303)
    assert "access_token_cookie" in refreshed.cookies

    # Anyone else, with no cookie and no token, after all of that went through the gateway.
    for path in ("/auth/me", "/me"):
        stranger = requests.get(f"{gateway}{path}", timeout=10)
        assert stranger.status_code == 401, (path, stranger.text)
    stranger = requests.get(f"{gateway}/auth/web/refresh", allow_redirects=False, timeout=10)
    assert "access_token_cookie" not in stranger.cookies  # no one's refresh cookie redeemed
    assert alice.get(f"{gateway}/auth/me", timeout=10).json()["username"] == alice_name
