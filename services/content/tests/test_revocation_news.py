"""Revocation marks followed through Redis's notices: no round trip for a token already read
clean, and still refused on the very next request once revoked."""

from __future__ import annotations

import jwt
import pytest

from shared.tokens import RevocationList

ITEM = {"name": "n", "price": 1}


def _mget_calls(redis_server) -> int:
    return redis_server.info("commandstats").get("cmdstat_mget", {}).get("calls", 0)


def _total(client) -> int:
    return int(client.get("/api/items").headers["X-Total-Count"])


@pytest.fixture
def token(tokens):
    return tokens.token(1, "alice")


@pytest.fixture
def revoke(redis_server):
    def revoke(token: str) -> None:
        claims = jwt.decode(token, options={"verify_signature": False})
        RevocationList(lambda: redis_server).revoke_token(claims["jti"], claims["exp"])

    return revoke


def test_a_token_read_clean_costs_no_round_trip_and_its_revocation_counts_at_once(
    client, redis_server, token, revoke
):
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/items", json=ITEM, headers=headers).status_code == 201
    before = _mget_calls(redis_server)
    for _ in range(3):
        assert client.post("/api/items", json=ITEM, headers=headers).status_code == 201
    assert _mget_calls(redis_server) == before  # vouched for: Redis not asked
    revoke(token)
    refused = client.post("/api/items", json=ITEM, headers=headers)
    assert refused.status_code == 401
    assert _total(client) == 4  # nothing created by the refused request


def test_another_tokens_revocation_leaves_a_vouched_token_alone(client, tokens, token, revoke):
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/items", json=ITEM, headers=headers).status_code == 201
    revoke(tokens.token(2, "bob"))
    assert client.post("/api/items", json=ITEM, headers=headers).status_code == 201


def test_a_flush_forgets_what_was_vouched(client, redis_server, token):
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/items", json=ITEM, headers=headers).status_code == 201
    redis_server.flushall()
    before = _mget_calls(redis_server)
    assert client.post("/api/items", json=ITEM, headers=headers).status_code == 201
    assert _mget_calls(redis_server) == before + 1


def test_a_lost_subscription_means_reads_again_and_misses_no_revocation(
    client, redis_server, token, revoke
):
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(2):
        assert client.post("/api/items", json=ITEM, headers=headers).status_code == 201
    redis_server.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
    revoke(token)  # no subscriber hears this one
    refused = client.post("/api/items", json=ITEM, headers=headers)
    assert refused.status_code == 401
    assert _total(client) == 2


def test_a_ping_left_unanswered_stops_the_vouching(app, client, redis_server, token):
    news = app.extensions["content_revocation_news"]
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(2):
        assert client.post("/api/items", json=ITEM, headers=headers).status_code == 201
    # As if Redis had gone silent: the last word long ago, a ping out and never answered.
    news._last_reply -= 60
    news._ping_sent = news._last_reply
    before = _mget_calls(redis_server)
    assert client.post("/api/items", json=ITEM, headers=headers).status_code == 201
    assert _mget_calls(redis_server) == before + 1
