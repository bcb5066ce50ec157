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


class TokenFactory:
    def __init__(self, issuer: str = "flask-suite-auth", audience: str = "flask-suite") -> None:
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
        return jwt.encode(
            self.claims(account_id, username, roles, **extra),
            self.private_key,
            algorithm="RS256",
            headers={"kid": self.kid, **(headers or {})},
        )

    def bearer(
        self, account_id: int, username: str = "user", roles: list[str] | None = None, **extra: Any
    ) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(account_id, username, roles, **extra)}"}
