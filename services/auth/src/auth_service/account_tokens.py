"""Single-use secrets for links in mail: verify an address, reset a password, move an address.

The link carries 256 random bits; the database keeps only their HMAC under SECRET_KEY, so
neither a copy of the database nor of a log can be turned into a working link. Redeeming
is one UPDATE that succeeds only on an unused, unexpired row, so two clicks racing each
other redeem a token once. Issuing a token retires the account's earlier ones of the same
purpose, and a password change retires them all.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any

from flask import current_app
from sqlalchemy import CursorResult, update

from auth_service.extensions import db
from auth_service.models import Account, AccountToken, utcnow

VERIFY = "verify"
RESET = "reset"
EMAIL_CHANGE = "email"


def now() -> float:
    """The clock every expiry is read against (tests move it)."""
    return time.time()


def _digest(secret: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()


def issue(account: Account, purpose: str, lifetime_seconds: float, email: str | None = None) -> str:
    """A new secret for the account (added to the caller's transaction); earlier ones retire."""
    retire(account.id, purpose)
    secret = secrets.token_urlsafe(32)
    db.session.add(
        AccountToken(
            account_id=account.id,
            purpose=purpose,
            token_hash=_digest(secret),
            email=email or account.email,
            expires_at=now() + lifetime_seconds,
        )
    )
    return secret


def redeem(secret: Any, purposes: tuple[str, ...]) -> AccountToken | None:
    """Use a secret once: its row when it was unused, unexpired and of one of these purposes.

    The caller commits; until then a concurrent redemption of the same secret waits on the
    row and then finds it used.
    """
    if not isinstance(secret, str) or not 20 <= len(secret) <= 100:
        return None
    digest = _digest(secret)
    used: CursorResult[Any] = db.session.execute(  # type: ignore[assignment]
        update(AccountToken)
        .where(
            AccountToken.token_hash == digest,
            AccountToken.purpose.in_(purposes),
            AccountToken.used_at.is_(None),
            AccountToken.expires_at > now(),
        )
        .values(used_at=utcnow())
    )
    if used.rowcount != 1:
        return None
    return db.session.execute(
        db.select(AccountToken).where(AccountToken.token_hash == digest)
    ).scalar_one()


def retire(account_id: int, *purposes: str) -> None:
    """No unused token of these purposes (all, when none are named) works any more."""
    query = update(AccountToken).where(
        AccountToken.account_id == account_id, AccountToken.used_at.is_(None)
    )
    if purposes:
        query = query.where(AccountToken.purpose.in_(purposes))
    db.session.execute(query.values(used_at=utcnow()))


def issue_verification(account: Account) -> str:
    return issue(account, VERIFY, current_app.config["EMAIL_TOKEN_MINUTES"] * 60)


def issue_reset(account: Account) -> str:
    return issue(account, RESET, current_app.config["PASSWORD_RESET_TOKEN_MINUTES"] * 60)
