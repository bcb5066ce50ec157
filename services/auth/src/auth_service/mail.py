"""Mail to account holders, queued in the outbox with the change that causes it.

The texts are plain, short and say what to do when the reader did not ask for the mail.
Links point at the hosted pages under PUBLIC_BASE_URL (the gateway's public address).
"""

from __future__ import annotations

import redis
from flask import current_app

from auth_service.models import Account, OutboxEvent
from auth_service.outbox import add_to_outbox
from auth_service.smtp import MAIL_CHANNEL
from shared.redis_store import get_redis

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


def throttled(account: Account, kind: str) -> int:
    """Seconds until the account may be sent another mail of this kind (0: send it now).

    Counts in Redis, so every worker agrees; while Redis is away the mail goes anyway (a
    missing throttle costs a few extra mails, a missing mail a locked-out person).
    """
    seconds = int(current_app.config["MAIL_THROTTLE_SECONDS"])
    key = f"throttle:mail:{kind}:{account.id}"
    try:
        client = get_redis()
        if client.set(key, 1, ex=seconds, nx=True):
            return 0
        return max(int(client.ttl(key)), 1)
    except (redis.RedisError, OSError, RuntimeError):
        return 0


def mail_verification(account: Account, secret: str) -> None:
    link = public_url(f"/auth/web/verify?token={secret}")
    hours = current_app.config["EMAIL_TOKEN_MINUTES"] / 60
    queue_mail(
        account,
        "verify",
        "confirm your e-mail address",
        f"""
Hello {account.username},

please confirm that this is your e-mail address by opening this link:

{link}

The link works once, for {hours:g} hours. If you did not create an account, ignore this
mail: nothing happens without the link.
""",
    )


def mail_registration_attempt(account: Account, newcomer: Account) -> None:
    queue_mail(
        account,
        "register_attempt",
        "someone tried to register with your address",
        f"""
Hello {account.username},

someone just created an account named "{newcomer.username}" with this e-mail address, which
belongs to your account "{account.username}". That account can neither use your address
nor reach yours: it was sent no link, and it can never confirm this address.

If that was you, log in to your own account instead: {public_url("/auth/web/login")}
If you forgot your password, reset it here: {public_url("/auth/web/forgot")}
If it was not you, you need not do anything.
""",
    )


def mail_password_reset(account: Account, secret: str) -> None:
    link = public_url(f"/auth/web/reset?token={secret}")
    minutes = current_app.config["PASSWORD_RESET_TOKEN_MINUTES"]
    queue_mail(
        account,
        "reset",
        "reset your password",
        f"""
Hello {account.username},

someone (we hope you) asked to reset the password of your account. Choose a new one here:

{link}

The link works once, for {minutes:g} minutes. If you did not ask, ignore this mail: your
password stays as it is.
""",
    )


def mail_password_changed(account: Account) -> None:
    queue_mail(
        account,
        "password_changed",
        "your password was changed",
        f"""
Hello {account.username},

the password of your account was just changed, and its other sessions were signed out.

If that was not you, reset your password at once: {public_url("/auth/web/forgot")}
""",
    )


def mail_email_change(account: Account, new_email: str, secret: str) -> None:
    link = public_url(f"/auth/web/verify?token={secret}")
    hours = current_app.config["EMAIL_TOKEN_MINUTES"] / 60
    queue_mail(
        account,
        "email_change",
        "confirm your new e-mail address",
        f"""
Hello {account.username},

please confirm that your account should use this e-mail address from now on:

{link}

The link works once, for {hours:g} hours. If you did not ask for this, ignore this mail.
""",
        to=new_email,
    )
    queue_mail(
        account,
        "email_change_notice",
        "your e-mail address is being changed",
        f"""
Hello {account.username},

someone signed in to your account asked to move it to the address {new_email}.
The change happens only when the link we sent there is opened.

If that was not you, change your password now: {public_url("/auth/web/password")}
""",
    )
