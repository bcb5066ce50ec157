"""Mail to account holders, queued in the outbox with the change that causes it.

The texts are plain, short and say what to do when the reader did not ask for the mail.
Links point at the hosted pages under PUBLIC_BASE_URL (the gateway's public address).
"""

from __future__ import annotations

from flask import current_app

from auth_service.models import Account, OutboxEvent
from auth_service.outbox import add_to_outbox
from auth_service.smtp import MAIL_CHANNEL

SIGNATURE = "\n\n-- \nThis message was sent by {site}. Replies are not read.\n"


def public_url(path: str) -> str:
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path


def queue_mail(
    account: Account, kind: str, subject: str, text: str, to: str | None = None
) -> OutboxEvent:
    """Add a mail to the current transaction; it is sent once the caller commits."""
    site = current_app.config["SITE_NAME"]
    body = {
        "to": to or account.email,
        "subject": f"{site}: {subject}",
        "text": text.strip() + SIGNATURE.format(site=site),
    }
    return add_to_outbox(MAIL_CHANNEL, f"mail.{kind}", account.id, body)
