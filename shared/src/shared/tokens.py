"""The one access-token verifier of the suite: JWKS keys, pinned algorithms, revocation.

Every service (the gateway at the edge, content and auth behind it) verifies tokens
with this code, so a rule changed here holds everywhere at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import jwt
import redis

log = logging.getLogger(__name__)

ALGORITHMS = ("RS256",)
REQUIRED_CLAIMS = ("sub", "iss", "aud", "iat", "nbf", "exp", "jti", "type", "client_id")
LEEWAY_SECONDS = 5

# The JOSE `typ` header of each kind of token auth signs (RFC 8725 3.11: explicit typing).
# Access tokens are RFC 9068's `at+jwt`, so a generic validator checking `typ` takes nothing
# else as one; refresh tokens and the second login step's tokens have their own types.
TOKEN_TYPES = {"access": "at+jwt", "refresh": "refresh+jwt", "mfa": "mfa+jwt"}


class InvalidToken(Exception):
    """The token is missing, malformed, expired, wrongly signed, of the wrong type or revoked."""


class RevocationUnavailable(Exception):
    """Redis cannot be reached, so revocation cannot be checked: fail closed."""


JwksSource = Callable[[], dict[str, Any]]


class JwksCache:
    """Public keys by kid, loaded once; an unknown kid refetches at most once per cool-down."""

    def __init__(self, source: JwksSource, cooldown: float = 10.0, max_age: float = 600.0) -> None:
        self._source = source
        self._cooldown = cooldown
        self._max_age = max_age
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()

    def key(self, kid: str) -> jwt.PyJWK:
        now = time.monotonic()
        key = self._keys.get(kid)
        if key is not None and now - self._fetched_at < self._max_age:
            return key
        with self._lock:
            key = self._keys.get(kid)
            stale = now - self._fetched_at >= self._max_age
            if (key is None or stale) and now - self._fetched_at >= self._cooldown:
                self._refresh(now)
            key = self._keys.get(kid)
        if key is None:
            raise InvalidToken("unknown signing key")
        return key

    def _refresh(self, now: float) -> None:
        # Count the attempt even when it fails, so a down auth service is not hammered.
        self._fetched_at = now
        try:
            document = self._source()
        except Exception as exc:
            log.warning("could not fetch JWKS: %s", type(exc).__name__)
            return
        keys: dict[str, jwt.PyJWK] = {}
        for entry in document.get("keys", []):
            kid = entry.get("kid")
            if not kid or entry.get("use", "sig") != "sig" or "d" in entry:
                continue  # a private key in a JWKS is never trusted
            try:
                keys[kid] = jwt.PyJWK(entry)
            except jwt.PyJWTError:
                log.warning("ignoring unusable JWKS key %s", kid)
        self._keys = keys


def http_jwks_source(client: Any, path: str = "/.well-known/jwks.json") -> JwksSource:
    def fetch() -> dict[str, Any]:
        response = client.get(path)
        response.raise_for_status()
        return response.json()

    return fetch


@dataclass(frozen=True)
class Principal:
    """Who a verified token speaks for."""

    id: int
    username: str
    roles: tuple[str, ...]
    claims: dict[str, Any] = field(repr=False)

    @property
    def is_admin(self) -> bool:
        # The role, and a token meant to use it: an app the admin let in without the
        # `admin` scope acts with a plain user's rights.
        return "admin" in self.roles and "admin" in scopes(self.claims)


REVOCATION_PREFIX = "revoked:"  # every revocation mark's key starts with it


class RevocationNewsReader(Protocol):
    """What a process has heard of revocation marks (a follower of Redis's key-change
    notices, such as content_service.revocation_news): it may vouch for a token's marks."""

    def vouches_for(self, marks: list[str]) -> bool: ...

    def check_started(self) -> int | None: ...

    def read_clean(self, marks: list[str], stamp: int | None) -> None: ...


class RevocationList:
    """Redis keys that make tokens invalid before they expire.

    revoked:jti:<jti>       one token (kept as long as that token could live)
    revoked:sid:<sid>       every token of one login session
    revoked:before:<sub>    every token of the account issued at or before that instant

    Readers may also learn of new marks from Redis's key-change notices instead of reading
    them on every request (the gateway does: gateway_service.revocation_news; content hands
    its RevocationNewsReader in here). Redis sends a
    notice in the same event-loop turn as its reply to the write, but may write the reply
    first, so each write is followed by one more round trip: when it returns, every notice
    of the write has left Redis, before the revoking request can be answered.
    """

    def __init__(
        self, get_redis: Callable[[], redis.Redis], news: RevocationNewsReader | None = None
    ) -> None:
        self._get_redis = get_redis
        self._news = news

    def is_revoked(self, claims: dict[str, Any]) -> bool:
        keys = self.mark_keys(claims)
        news = self._news
        if news is not None and news.vouches_for(keys):
            return False
        stamp = news.check_started() if news is not None else None
        try:
            values = self._get_redis().mget(keys)
        except (redis.RedisError, OSError, RuntimeError) as exc:
            raise RevocationUnavailable(str(type(exc).__name__)) from exc
        revoked = self.revoked_by(claims, values)
        if news is not None and not revoked:
            news.read_clean(keys, stamp)
        return revoked

    @staticmethod
    def mark_keys(claims: dict[str, Any]) -> list[str]:
        """The keys whose values decide whether the token with these claims is revoked."""
        keys = [
            f"{REVOCATION_PREFIX}jti:{claims['jti']}",
            f"{REVOCATION_PREFIX}before:{claims['sub']}",
        ]
        if claims.get("sid"):
            keys.append(f"{REVOCATION_PREFIX}sid:{claims['sid']}")
        return keys

    @staticmethod
    def revoked_by(claims: dict[str, Any], values: list[Any]) -> bool:
        """The verdict on the values read for mark_keys(claims), in that order."""
        jti_mark, before_mark, *sid_mark = values
        if jti_mark is not None or any(v is not None for v in sid_mark):
            return True
        return before_mark is not None and float(claims["iat"]) <= float(before_mark)

    def revoke_token(self, jti: str, expires_at: float) -> None:
        self._set(f"{REVOCATION_PREFIX}jti:{jti}", "1", _ttl_until(expires_at))

    def revoke_session(self, sid: str, expires_at: float) -> None:
        self._set(f"{REVOCATION_PREFIX}sid:{sid}", "1", _ttl_until(expires_at))

    def revoke_account(self, sub: str, lifetime: float) -> None:
        self._set(f"{REVOCATION_PREFIX}before:{sub}", f"{time.time():.6f}", int(lifetime) + 60)

    def _set(self, key: str, value: str, ttl: int) -> None:
        client = self._get_redis()
        client.set(key, value, ex=ttl)
        client.ping()  # the barrier after the notices (see the class's docstring)


def _ttl_until(expires_at: float) -> int:
    return max(int(expires_at - time.time()) + LEEWAY_SECONDS + 1, 1)


class TokenVerifier:
    def __init__(
        self,
        jwks: JwksCache,
        issuer: str,
        audience: str,
        revocations: RevocationList | None = None,
    ) -> None:
        self.jwks = jwks
        self.issuer = issuer
        self.audience = audience
        self.revocations = revocations

    def verify(self, token: str, expected_type: str = "access") -> dict[str, Any]:
        claims = self.decode(token, expected_type)
        if self.revocations is not None and self.revocations.is_revoked(claims):
            raise InvalidToken("token has been revoked")
        return claims

    def decode(self, token: str, expected_type: str = "access") -> dict[str, Any]:
        """Check signature and claims, without the revocation list."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed token") from exc
        # Only the pinned algorithm; jku, x5u and jwk headers are never consulted.
        if header.get("alg") not in ALGORITHMS:
            raise InvalidToken("algorithm not allowed")
        if media_type(header.get("typ")) != TOKEN_TYPES[expected_type]:
            raise InvalidToken(f"expected a token of type {TOKEN_TYPES[expected_type]}")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise InvalidToken("token has no key id")
        key = self.jwks.key(kid)
        try:
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=list(ALGORITHMS),
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": list(REQUIRED_CLAIMS), "strict_aud": True},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        if claims.get("type") != expected_type:
            raise InvalidToken(f"expected an {expected_type} token")
        if not isinstance(claims.get("sub"), str):
            raise InvalidToken("sub must be a string")
        return claims


def media_type(typ: Any) -> str:
    """A `typ` header as a bare, lower-case media type (RFC 7515 4.1.9 allows both forms)."""
    if not isinstance(typ, str):
        return ""
    typ = typ.strip().lower()
    return typ.removeprefix("application/")


def scopes(claims: dict[str, Any]) -> frozenset[str]:
    """The space-separated `scope` claim as a set (RFC 9068 2.2.3)."""
    scope = claims.get("scope")
    return frozenset(scope.split()) if isinstance(scope, str) else frozenset()


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    try:
        account_id = int(claims["sub"])
    except (KeyError, ValueError) as exc:
        raise InvalidToken("sub is not an account id") from exc
    roles = claims.get("roles") or []
    return Principal(
        id=account_id,
        username=str(claims.get("username", "")),
        roles=tuple(str(r) for r in roles) if isinstance(roles, list) else (),
        claims=claims,
    )
