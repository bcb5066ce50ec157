"""Auth's tables: accounts, login sessions and the outbox of account events and mail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    false,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from auth_service.extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC)


class Account(db.Model):  # type: ignore[name-defined]
    __tablename__ = "accounts"
    __table_args__ = (
        # Several accounts may show one address (addresses.py); one at most has verified it.
        Index(
            "uq_accounts_verified_email",
            "email",
            unique=True,
            sqlite_where=text("email_verified"),
            postgresql_where=text("email_verified"),
        ),
        # An id is never handed out twice: tokens, revocation marks and content's rows name it.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), nullable=False)
    # Lower-cased copies carry the uniqueness rules: names differing only in case collide.
    username_key: Mapped[str] = mapped_column(String(80), nullable=False, unique=True)
    email: Mapped[str] = mapped_column(String(254), nullable=False, index=True)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    roles: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Whether the owner of `email` followed a link we mailed there.
    email_verified: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    # False: this account may never verify `email` (it registered while a verified account
    # held the address, or another account verified it first); it must move to another one.
    email_claimable: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=True, server_default=true()
    )
    # Two-factor login (totp.py): the secret encrypted, and the last step a code was used.
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    totp_enabled: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    def to_public(self) -> dict[str, object]:
        return {
            "id": self.id,
            "username": self.username,
            "email": self.email,
            "email_verified": bool(self.email_verified),
            "totp_enabled": bool(self.totp_enabled),
            "roles": list(self.roles or []),
            "created_at": iso(self.created_at),
        }

    def to_admin(self) -> dict[str, object]:
        return {**self.to_public(), "disabled": bool(self.disabled)}


class LoginSession(db.Model):  # type: ignore[name-defined]
    """One login: its refresh tokens rotate, and only `current_jti` may be redeemed."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # the tokens' `sid`
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    current_jti: Mapped[str] = mapped_column(String(32), nullable=False)
    # The token just rotated out, kept for the documented grace of concurrent refreshes.
    previous_jti: Mapped[str | None] = mapped_column(String(32))
    rotated_at: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The OAuth client and scope the session's tokens carry (None: the suite's own login).
    client_id: Mapped[str | None] = mapped_column(String(64))
    scope: Mapped[str | None] = mapped_column(String(500))


class AccountToken(db.Model):  # type: ignore[name-defined]
    """A single-use secret mailed to an account holder; only its keyed hash is stored."""

    __tablename__ = "account_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    purpose: Mapped[str] = mapped_column(String(16), nullable=False)  # verify, reset, email
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    # The address being confirmed: the account's own, or the new one it moves to.
    email: Mapped[str] = mapped_column(String(254), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[float] = mapped_column(Float, nullable=False)  # epoch seconds
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RecoveryCode(db.Model):  # type: ignore[name-defined]
    """A single-use second factor for a lost authenticator; only its keyed hash is kept."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OutboxEvent(db.Model):  # type: ignore[name-defined]
    """A message (an account event for content, a mail), written in the change's transaction."""

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_channel_due", "channel", "next_attempt_at"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)  # delivery order
    id: Mapped[str] = mapped_column(String(36), nullable=False, unique=True)
    # Who delivers it: "content" (account events) or "mail" (SMTP).
    channel: Mapped[str] = mapped_column(
        String(16), nullable=False, default="content", server_default="content"
    )
    type: Mapped[str] = mapped_column(String(40), nullable=False)
    account_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Epoch seconds: compared in SQL the same way on SQLite and PostgreSQL.
    next_attempt_at: Mapped[float] = mapped_column(Float, nullable=False, index=True)
    claimed_until: Mapped[float | None] = mapped_column(Float)
    claim_token: Mapped[str | None] = mapped_column(String(32), index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(200))


def as_utc(moment: datetime) -> datetime:
    # SQLite drops the zone; we only ever store UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def iso(moment: datetime) -> str:
    return as_utc(moment).isoformat().replace("+00:00", "Z")
