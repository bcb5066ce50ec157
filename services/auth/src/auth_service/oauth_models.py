"""OAuth clients, authorization codes and remembered consents, as authlib's mixins ask.

A client secret is stored only as its SHA-256: it is a random 256-bit value, so a slow
password hash would add cost without adding strength. Codes are stored the same way, so
a database read gives nobody a usable code.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from auth_service.extensions import db
from auth_service.models import iso, utcnow


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class OAuthClient(db.Model):  # type: ignore[name-defined]
    """A registered app: public (no secret, PKCE required) or confidential (hashed secret)."""

    __tablename__ = "oauth_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    grant_types: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    scope: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    # First-party clients are the suite's own apps: the only ones the password grant serves.
    first_party: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @property
    def public(self) -> bool:
        return self.secret_hash is None

    def to_public(self) -> dict[str, object]:
        return {
            "client_id": self.client_id,
            "name": self.name,
            "public": self.public,
            "redirect_uris": list(self.redirect_uris or []),
            "grant_types": list(self.grant_types or []),
            "scope": self.scope,
            "first_party": bool(self.first_party),
            "created_at": iso(self.created_at),
        }

    # authlib's ClientMixin -------------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        uris = self.redirect_uris or []
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        allowed = set(self.scope.split())
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string comparison (OAuth 2.1 2.3.1): no prefixes, no decoding, no case folding.
        return any(hmac.compare_digest(redirect_uri, uri) for uri in self.redirect_uris or [])

    def check_client_secret(self, client_secret: str) -> bool:
        if self.secret_hash is None:
            return False
        return hmac.compare_digest(digest(client_secret), self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.public:
            # A public client only identifies itself: enough to redeem a code (with PKCE),
            # refresh or revoke its own tokens, never to introspect anyone's.
            return method == "none" and endpoint in ("token", "revocation")
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in (self.grant_types or [])

    def check_grant_type(self, grant_type: str) -> bool:
        if grant_type == "client_credentials" and self.public:
            return False  # a public client has no credentials to show
        if grant_type == "password" and not self.first_party:
            return False
        return grant_type in (self.grant_types or [])


class AuthorizationCode(db.Model):  # type: ignore[name-defined]
    """One authorization code: single use, short-lived, bound to client, redirect and PKCE."""

    __tablename__ = "oauth_authorization_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_clients.client_id", ondelete="CASCADE"), nullable=False
    )
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    redirect_uri: Mapped[str] = mapped_column(String(2000), nullable=False)
    scope: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    nonce: Mapped[str | None] = mapped_column(String(500))
    code_challenge: Mapped[str] = mapped_column(String(128), nullable=False)
    code_challenge_method: Mapped[str] = mapped_column(String(10), nullable=False)
    auth_time: Mapped[float] = mapped_column(Float, nullable=False)
    expires_at: Mapped[float] = mapped_column(Float, nullable=False)
    # Set when redeemed: a second redemption is a replay, and revokes what the first gave.
    used_at: Mapped[float | None] = mapped_column(Float)
    session_id: Mapped[str | None] = mapped_column(String(32))
    amr: Mapped[list[str] | None] = mapped_column(JSON)  # how the user logged in (RFC 8176)

    # authlib's AuthorizationCodeMixin ----------------------------------------------------
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return int(self.auth_time)

    def get_acr(self) -> str | None:
        return None

    def get_amr(self) -> list[str] | None:
        return self.amr

    def is_expired(self) -> bool:
        return time.time() >= self.expires_at


class Consent(db.Model):  # type: ignore[name-defined]
    """The scopes an account has granted a client, so it is not asked again for them."""

    __tablename__ = "oauth_consents"

    client_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_clients.client_id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    scope: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    def covers(self, scope: str) -> bool:
        return set(scope.split()) <= set(self.scope.split())


def client_secret_hash(secret: str) -> str:
    return digest(secret)
