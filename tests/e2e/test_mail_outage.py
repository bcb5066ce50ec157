"""The mail server down for a while: nothing is lost, the mail goes out when it returns.

A stack of its own whose SMTP_URL names a port where no server listens yet; the test then
starts a real SMTP server (aiosmtpd) there.
"""

from __future__ import annotations

import email
import email.policy
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
import requests
from aiosmtpd.controller import Controller
from conftest import RunningStack, free_port


class Catcher:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: object, session: object, envelope) -> str:
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture(scope="module")
def outage_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningStack, int]]:
    port = free_port()
    running = RunningStack(
        tmp_path_factory.mktemp("mail-outage"),
        {
            "SMTP_URL": f"smtp://127.0.0.1:{port}?starttls=no",
            "OUTBOX_BACKOFF_SECONDS": "0.5",
            "OUTBOX_MAX_BACKOFF_SECONDS": "2",
            "GUNICORN_WORKERS": "1",
        },
    )
    running.start()
    yield running, port
    running.stop()


def test_mail_written_while_the_server_is_down_is_sent_when_it_returns(outage_stack):
    stack, port = outage_stack
    names = ["o" + uuid.uuid4().hex[:10] for _ in range(3)]
    for name in names:
        created = requests.post(
            f"{stack.gateway}/auth/register",
            json={"username": name, "email": f"{name}@example.com", "password": "outage pass 1"},
            timeout=10,
        )
        assert created.status_code == 201, created.text
    time.sleep(2)  # several failed attempts while nothing listens
    assert "could not deliver mail.verify" in stack.log("auth")
    catcher = Catcher()
    controller = Controller(catcher, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        deadline = time.monotonic() + 30
        while len(catcher.messages) < len(names) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        controller.stop()
    received = [
        email.message_from_bytes(raw, policy=email.policy.default) for raw in catcher.messages
    ]
    assert sorted(str(m["To"]) for m in received) == sorted(f"{n}@example.com" for n in names)
    assert all(
        isinstance(m, EmailMessage) and "/auth/web/verify?token=" in m.get_content()
        for m in received
    )
