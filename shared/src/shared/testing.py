"""Helpers for the services' own tests: a signing key, its JWKS and tokens in the contract shape.

Only tests import this; a service at run time never holds a signing key.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from shared.tokens import TOKEN_TYPES

# What a token from the suite's own login carries (auth_service.scopes.first_party_scope).
FIRST_PARTY_CLIENT_ID = "flask-suite"
FIRST_PARTY_SCOPE = "profile items:write posts:write"


class TokenFactory:
    def __init__(
        self, issuer: str = "http://127.0.0.1:8000/auth", audience: str = "flask-suite"
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex

    def jwks(self) -> dict[str, Any]:
        jwk = RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}

    def claims(
        self, account_id: int, username: str = "user", roles: list[str] | None = None, **extra: Any
    ) -> dict[str, Any]:
        now = int(time.time())
        scope = FIRST_PARTY_SCOPE + (" admin" if "admin" in (roles or []) else "")
        return {
            "sub": str(account_id),
            "username": username,
            "roles": roles or [],
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + 900,
            "jti": uuid.uuid4().hex,
            "sid": uuid.uuid4().hex,
            "type": "access",
            "client_id": FIRST_PARTY_CLIENT_ID,
            "scope": scope,
            "email_verified": True,  # as auth's tokens say once the address is confirmed
            **extra,
        }

    def token(
        self,
        account_id: int,
        username: str = "user",
        roles: list[str] | None = None,
        headers: dict[str, Any] | None = None,
        **extra: Any,
    ) -> str:
        claims = self.claims(account_id, username, roles, **extra)
        typ = TOKEN_TYPES.get(claims["type"], "JWT")
        return jwt.encode(
            claims,
            self.private_key,
            algorithm="RS256",
            headers={"kid": self.kid, "typ": typ, **(headers or {})},
        )

    def relay_token(self, client_id: str = "auth-relay", scope: str = "events:write") -> str:
        """A client credentials token, as auth's outbox relay sends with account events."""
        claims = self.claims(0, sub=client_id, client_id=client_id, scope=scope)
        del claims["username"], claims["roles"], claims["sid"]  # no user behind it
        return jwt.encode(
            claims, self.private_key, algorithm="RS256", headers={"kid": self.kid, "typ": "at+jwt"}
        )

    def bearer(
        self, account_id: int, username: str = "user", roles: list[str] | None = None, **extra: Any
    ) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(account_id, username, roles, **extra)}"}
