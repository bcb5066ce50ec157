"""The revocation list every verifier checks: token, session and per-account marks."""

from __future__ import annotations

import time

import pytest
import redis

from shared.testing import TokenFactory
from shared.tokens import (
    InvalidToken,
    JwksCache,
    RevocationList,
    RevocationUnavailable,
    TokenVerifier,
)


class FakeRedis:
    """Just the commands the revocation list uses, with expiry; writes and pings noted."""

    def __init__(self) -> None:
        self.values: dict[str, tuple[str, float]] = {}
        self.down = False
        self.writes: list[str] = []  # "set <key>" and "ping", in order

    def mget(self, keys: list[str]) -> list[str | None]:
        if self.down:
            raise redis.ConnectionError("down")
        now = time.time()
        live = {k: value for k, (value, expires) in self.values.items() if expires > now}
        return [live.get(k) for k in keys]

    def set(self, key: str, value: str, ex: int) -> None:
        self.values[key] = (value, time.time() + ex)
        self.writes.append(f"set {key}")

    def ping(self) -> bool:
        self.writes.append("ping")
        return True


@pytest.fixture
def store() -> FakeRedis:
    return FakeRedis()


@pytest.fixture
def factory() -> TokenFactory:
    return TokenFactory()


@pytest.fixture
def verifier(factory, store) -> TokenVerifier:
    return TokenVerifier(
        JwksCache(factory.jwks),
        "http://127.0.0.1:8000/auth",
        "flask-suite",
        RevocationList(lambda: store),
    )


def test_a_denylisted_token_is_refused_until_it_would_have_expired(verifier, factory, store):
    claims = factory.claims(7)
    token = factory.token(7, jti=claims["jti"], exp=claims["exp"])
    verifier.verify(token)
    RevocationList(lambda: store).revoke_token(claims["jti"], claims["exp"])
    with pytest.raises(InvalidToken, match="revoked"):
        verifier.verify(token)
    ttl = store.values[f"revoked:jti:{claims['jti']}"][1] - time.time()
    assert claims["exp"] - time.time() < ttl < claims["exp"] - time.time() + 10


def test_a_revoked_session_refuses_all_its_tokens(verifier, factory, store):
    token = factory.token(7, sid="s1")
    RevocationList(lambda: store).revoke_session("s1", time.time() + 60)
    with pytest.raises(InvalidToken):
        verifier.verify(token)
    verifier.verify(factory.token(7, sid="s2"))


def test_the_account_mark_refuses_tokens_issued_before_it(verifier, factory, store):
    old = factory.token(7, iat=int(time.time()) - 10)
    RevocationList(lambda: store).revoke_account("7", lifetime=60)
    with pytest.raises(InvalidToken):
        verifier.verify(old)
    later = factory.token(7, iat=int(time.time()) + 2, nbf=int(time.time()))
    verifier.verify(later)
    verifier.verify(factory.token(8, iat=int(time.time()) - 10))  # another account


def test_redis_down_fails_closed(verifier, factory, store):
    store.down = True
    with pytest.raises(RevocationUnavailable):
        verifier.verify(factory.token(7))


def test_every_revocation_is_followed_by_a_round_trip(store):
    """Readers that follow Redis's key-change notices rely on it: when the revoking call
    returns, Redis has sent every notice of the write."""
    revocations = RevocationList(lambda: store)
    revocations.revoke_token("j1", time.time() + 60)
    revocations.revoke_session("s1", time.time() + 60)
    revocations.revoke_account("7", lifetime=60)
    assert store.writes == [
        "set revoked:jti:j1", "ping",
        "set revoked:sid:s1", "ping",
        "set revoked:before:7", "ping",
    ]  # fmt: skip
