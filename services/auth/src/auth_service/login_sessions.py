"""Login sessions: start, rotate the refresh token (with reuse detection) and revoke.

Each session row names the one refresh token (`current_jti`) that may be redeemed next.
Rotation is a compare-and-swap, `UPDATE ... WHERE current_jti = :presented`, so of two
concurrent refreshes of one token exactly one wins. The loser, and anyone presenting the
token that was rotated out less than REFRESH_REUSE_GRACE_SECONDS ago, gets a 401 without
harming the session: that is the documented grace for a client racing itself. Any other
retired token is reuse, a sign of theft, and revokes the whole session.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from flask import current_app
from sqlalchemy import CursorResult, update

from auth_service.extensions import db
from auth_service.models import Account, LoginSession, as_utc, utcnow
from auth_service.tokens import (
    access_lifetime,
    issue_token_pair,
    new_jti,
    refresh_lifetime,
)
from shared.auth import token_verifier, unauthorized
from shared.problems import Problem
from shared.tokens import RevocationList

log = logging.getLogger(__name__)


def revocations() -> RevocationList:
    revocation_list = token_verifier().revocations
    assert revocation_list is not None  # type narrowing only  # nosec B101
    return revocation_list


def _redis_unavailable(exc: Exception) -> Problem:
    log.error("could not write a revocation mark to Redis: %s", type(exc).__name__)
    return Problem(
        503, "Revocation is unavailable right now; try again shortly.", headers={"Retry-After": "5"}
    )


def start_session(
    account: Account,
    amr: list[str] | None = None,
    client_id: str | None = None,
    scope: str | None = None,
) -> dict[str, Any]:
    """A new login session and its first pair: the suite's own login, or an OAuth client's."""
    session = LoginSession(
        id=new_jti(),
        account_id=account.id,
        current_jti=new_jti(),
        client_id=client_id,
        scope=scope,
    )
    db.session.add(session)
    db.session.commit()
    return issue_token_pair(account, session.id, session.current_jti, amr, client_id, scope)


def refresh(claims: dict[str, Any]) -> dict[str, Any]:
    """Redeem a verified refresh token for a new pair, retiring it."""
    sid, presented = claims.get("sid"), claims["jti"]
    session = db.session.get(LoginSession, sid) if isinstance(sid, str) else None
    if session is None or session.revoked_at is not None:
        raise unauthorized("This session has ended; log in again.")
    account = db.session.get(Account, session.account_id)
    if account is None or account.disabled:
        raise unauthorized("This session has ended; log in again.")
    if presented != session.current_jti:
        _refuse_retired(session, presented)
    replacement = new_jti()
    swapped: CursorResult[Any] = db.session.execute(  # type: ignore[assignment]
        update(LoginSession)
        .where(
            LoginSession.id == session.id,
            LoginSession.current_jti == presented,
            LoginSession.revoked_at.is_(None),
        )
        .values(current_jti=replacement, previous_jti=presented, rotated_at=time.time())
    )
    db.session.commit()
    if swapped.rowcount != 1:
        # Another request redeemed this very token a moment ago and won.
        db.session.refresh(session)
        _refuse_retired(session, presented)
    amr = claims.get("amr") if isinstance(claims.get("amr"), list) else None
    return issue_token_pair(account, session.id, replacement, amr, session.client_id, session.scope)


def _refuse_retired(session: LoginSession, presented: str) -> None:
    grace = current_app.config["REFRESH_REUSE_GRACE_SECONDS"]
    just_rotated = (
        session.previous_jti == presented
        and session.rotated_at is not None
        and time.time() - session.rotated_at <= grace
        and session.revoked_at is None
    )
    if not just_rotated:
        log.warning("refresh token reuse; revoking session", extra={"sid": session.id})
        revoke_session(session.id)
    raise unauthorized("This refresh token has already been used.")


def revoke_session(sid: str) -> None:
    """End one session everywhere: its row, and a Redis mark every verifier checks."""
    db.session.execute(
        update(LoginSession)
        .where(LoginSession.id == sid, LoginSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    db.session.commit()
    try:
        revocations().revoke_session(sid, time.time() + refresh_lifetime())
    except (redis.RedisError, OSError) as exc:
        raise _redis_unavailable(exc) from exc


def revoke_other_sessions(account_id: int, keep_sid: str | None) -> None:
    """End every live session of the account but one (or all, with keep_sid None)."""
    rows = db.session.execute(
        db.select(LoginSession.id, LoginSession.created_at, LoginSession.rotated_at).where(
            LoginSession.account_id == account_id,
            LoginSession.revoked_at.is_(None),
            LoginSession.id != (keep_sid or ""),
        )
    ).all()
    oldest_live = time.time() - refresh_lifetime()
    for sid, created_at, rotated_at in rows:
        last_used = rotated_at or as_utc(created_at).timestamp()
        if last_used >= oldest_live:  # an expired session's tokens are dead already
            revoke_session(sid)


def revoke_access_token(claims: dict[str, Any]) -> None:
    try:
        revocations().revoke_token(claims["jti"], float(claims["exp"]))
    except (redis.RedisError, OSError) as exc:
        raise _redis_unavailable(exc) from exc


def revoke_all_tokens(account_id: int) -> None:
    """Every token the account holds stops working: sessions ended, plus a Redis mark."""
    db.session.execute(
        update(LoginSession)
        .where(LoginSession.account_id == account_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    db.session.commit()
    lifetime = max(refresh_lifetime(), access_lifetime())
    try:
        revocations().revoke_account(str(account_id), lifetime)
    except (redis.RedisError, OSError) as exc:
        raise _redis_unavailable(exc) from exc
