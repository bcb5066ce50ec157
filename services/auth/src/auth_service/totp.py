"""Two-factor login with TOTP (RFC 6238): enrolment, checking codes, recovery codes.

The shared secret is stored encrypted under TOTP_ENCRYPTION_KEY (totp_keys.py): a copy of
the database alone yields no codes. A code is accepted for the current 30-second step and one
step either side (clock drift), and never for a step at or before the last one accepted,
so a code seen once cannot be replayed. Ten recovery codes are made at enrolment; only
their HMAC is kept, and each works once.
"""

from __future__ import annotations

import hmac
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import pyotp
from cryptography.fernet import InvalidToken
from flask import current_app
from sqlalchemy import CursorResult, update

from auth_service.extensions import db
from auth_service.models import Account, RecoveryCode, utcnow
from auth_service.totp_keys import cipher, encrypted_with_current_key, recovery_digests

DRIFT_STEPS = 1
RECOVERY_CODES = 10
ISSUER_FALLBACK = "Flask Suite"


def now() -> float:
    """The clock codes are checked against (tests move it)."""
    return time.time()


def _secret_of(account: Account) -> str | None:
    if not account.totp_secret:
        return None
    try:
        return cipher().decrypt(account.totp_secret.encode()).decode()
    except InvalidToken:
        # Encrypted under a key no longer configured: unreadable, as if never enrolled.
        return None


def readable(account: Account) -> bool:
    return _secret_of(account) is not None


def reencrypt(account: Account) -> bool:
    """Write the account's secret under the current key (the caller commits); True if it moved.

    Run on every accepted code and by `flask rekey-totp`, so an old key can be dropped once
    every enrolment moved off it.
    """
    if not account.totp_secret or encrypted_with_current_key(account.totp_secret):
        return False
    try:
        account.totp_secret = cipher().rotate(account.totp_secret.encode()).decode()
    except InvalidToken:
        return False  # under no configured key: nothing to move
    return True


def begin_enrolment(account: Account) -> dict[str, str]:
    """A new pending secret (replacing any pending one); its otpauth URI for the QR code."""
    secret = pyotp.random_base32()
    account.totp_secret = cipher().encrypt(secret.encode()).decode()
    account.totp_enabled = False
    account.totp_last_step = None
    db.session.commit()
    issuer = current_app.config.get("SITE_NAME") or ISSUER_FALLBACK
    uri = pyotp.TOTP(secret).provisioning_uri(name=account.username, issuer_name=issuer)
    return {"secret": secret, "otpauth_uri": uri}


def _matching_step(secret: str, code: str) -> int | None:
    totp = pyotp.TOTP(secret)
    current = totp.timecode(_moment())
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _moment() -> datetime:
    return datetime.fromtimestamp(now(), UTC)


def use_code(account: Account, code: str) -> bool:
    """True when `code` is a valid, unused TOTP code for the account (and now used)."""
    secret = _secret_of(account)
    code = code.strip().replace(" ", "")
    if secret is None or not code.isdigit() or len(code) != 6:
        return False
    step = _matching_step(secret, code)
    if step is None:
        return False
    # Compare-and-set: of two requests with the same code, one wins; an older step loses.
    moved: CursorResult[Any] = db.session.execute(  # type: ignore[assignment]
        update(Account)
        .where(
            Account.id == account.id,
            (Account.totp_last_step.is_(None)) | (Account.totp_last_step < step),
        )
        .values(totp_last_step=step)
    )
    won = moved.rowcount == 1
    if won:
        reencrypt(account)  # an enrolment under an old key moves to the current one
    db.session.commit()
    return won


def confirm_enrolment(account: Account, code: str) -> list[str] | None:
    """Turn 2FA on once a code from the pending secret works; the new recovery codes."""
    if account.totp_enabled or not use_code(account, code):
        return None
    codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]
    db.session.execute(RecoveryCode.__table__.delete().where(RecoveryCode.account_id == account.id))
    db.session.add_all(
        RecoveryCode(account_id=account.id, code_hash=recovery_digests(c)[0]) for c in codes
    )
    account.totp_enabled = True
    db.session.commit()
    return codes


def use_recovery_code(account: Account, code: str) -> bool:
    if not 6 <= len(code) <= 40:
        return False
    used: CursorResult[Any] = db.session.execute(  # type: ignore[assignment]
        update(RecoveryCode)
        .where(
            RecoveryCode.account_id == account.id,
            RecoveryCode.code_hash.in_(recovery_digests(code)),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )
    db.session.commit()
    return used.rowcount == 1


def use_second_factor(account: Account, code: str) -> str | None:
    """The method that accepted `code` ("otp" or "recovery"), or None."""
    if not account.totp_enabled:
        return None
    if use_code(account, code):
        return "otp"
    if use_recovery_code(account, code):
        return "recovery"
    return None


def remove(account: Account) -> None:
    """2FA off: the secret and the recovery codes go (the caller commits)."""
    account.totp_secret = None
    account.totp_enabled = False
    account.totp_last_step = None
    db.session.execute(RecoveryCode.__table__.delete().where(RecoveryCode.account_id == account.id))


def pending_enrolment(account: Account) -> dict[str, str]:
    """The pending secret again (after a wrong code), with its URI."""
    secret = _secret_of(account) or ""
    issuer = current_app.config.get("SITE_NAME") or ISSUER_FALLBACK
    uri = pyotp.TOTP(secret).provisioning_uri(name=account.username, issuer_name=issuer)
    return {"secret": secret, "otpauth_uri": uri}
