"""The edge: plain reads answered on the event loop exactly as the Flask path answers them,
everything else handed to the Flask app in threads."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from conftest import UPSTREAM_ANSWERS, Scripted, ServedEdgeClient, closed_port

from shared.tokens import RevocationList

# Differ between any two answers, or are the server's to write.
VOLATILE = {"x-request-id", "date", "server", "ratelimit-reset"}


def comparable_edge(answer):
    headers = sorted((k, v) for k, v in answer.headers if k not in VOLATILE)
    request_id = answer.header("X-Request-ID") or ""
    return answer.status, headers, answer.body.replace(request_id.encode(), b"<id>")


def comparable_flask(response):
    headers = sorted(
        (k.lower(), v) for k, v in response.headers.items() if k.lower() not in VOLATILE
    )
    request_id = response.headers.get("X-Request-ID", "")
    return (
        response.status_code,
        headers,
        response.get_data().replace(request_id.encode(), b"<id>"),
    )


@pytest.mark.parametrize("script", UPSTREAM_ANSWERS)
@pytest.mark.parametrize("origin", [None, "http://localhost:5173", "https://elsewhere.example"])
def test_loop_answers_match_the_flask_path(make_app, edge_client, upstream, tokens, script, origin):
    upstream.paths["/api/items/7"] = script
    bearer = tokens.bearer(1, "alice")
    headers = {**bearer, "User-Agent": "t", "Accept": "*/*"}
    if origin:
        headers["Origin"] = origin

    flask_client = make_app(RATE_LIMIT="50/minute", GATEWAY_FAST_PATH=False).test_client()
    flask_client.get("/api/items/7", headers=bearer)
    via_flask = flask_client.get("/api/items/7?x=1", headers={**headers, "Host": "gateway.test"})

    edge = edge_client(RATE_LIMIT="50/minute")
    assert not edge.request("GET", "/api/items/7", bearer).on_loop  # first use: verified
    via_loop = edge.request("GET", "/api/items/7?x=1", headers)

    assert via_loop.on_loop
    assert comparable_edge(via_loop) == comparable_flask(via_flask)
    assert via_loop.header("X-Request-ID") not in (None, "upstream-id")
    sent_flask, sent_loop = (
        {k: v for k, v in seen["headers"].items() if k != "X-Request-Id"}
        for seen in (upstream.seen[1], upstream.seen[3])
    )
    assert sent_loop == sent_flask
    assert upstream.seen[3]["path"] == "/api/items/7?x=1"


def test_a_repeated_header_reaches_the_upstream_joined(edge_client, upstream, tokens):
    """As a WSGI server joins them for the Flask path: no value is lost on the loop."""
    edge = edge_client(RATE_LIMIT="50/minute")
    bearer = tokens.bearer(1, "alice")
    edge.request("GET", "/api/items/7", bearer)  # first use: verified on the Flask path
    repeated = [*bearer.items(), ("Accept", "text/plain"), ("Accept", "application/json")]

    answer = edge.request("GET", "/api/items/7", repeated)

    assert answer.on_loop
    assert upstream.seen[-1]["headers"]["Accept"] == "text/plain,application/json"


def test_only_plain_reads_stay_on_the_loop(edge_client, tokens, upstream, redis_server):
    edge = edge_client()
    bearer = tokens.bearer(1, "alice")
    origin = {"Origin": "http://localhost:3000"}

    assert edge.request("GET", "/api/items").on_loop  # anonymous
    assert not edge.request("GET", "/api/items", bearer).on_loop  # first use: verified
    assert edge.request("GET", "/api/items/2", bearer).on_loop  # remembered
    assert edge.request("HEAD", "/api/items/2", bearer).on_loop
    assert edge.request("GET", "/api/items/3", {**bearer, **origin}).on_loop
    handed_over = [
        edge.request("POST", "/api/items", bearer, body=b'{"name": "lamp"}'),
        edge.request("GET", "/api/items", bearer, body=b"{}"),  # a body: the thread path
        edge.request("OPTIONS", "/api/items", {**origin, "Access-Control-Request-Method": "GET"}),
        edge.request("GET", "/api/items", {"Authorization": "Bearer junk"}),
        edge.request("GET", "/healthz"),
        edge.request("GET", "/openapi.json"),
    ]
    assert not any(answer.on_loop for answer in handed_over)
    assert [a.status for a in handed_over] == [200, 200, 204, 401, 200, 200]
    assert [s["method"] for s in upstream.seen if s["path"].startswith("/api/items")] == [
        "GET", "GET", "GET", "HEAD", "GET", "POST", "GET"
    ]  # fmt: skip
    assert upstream.seen[5]["body"] == b'{"name": "lamp"}'


def test_a_revoked_token_is_refused_by_the_flask_path(edge_client, tokens, redis_server):
    edge = edge_client()
    claims = {"jti": "j-revoked", "sid": "s-1"}
    bearer = tokens.bearer(3, "carol", **claims)
    assert edge.request("GET", "/api/items", bearer).status == 200
    RevocationList(lambda: redis_server).revoke_token("j-revoked", time.time() + 900)

    answer = edge.request("GET", "/api/items/1", bearer)
    assert not answer.on_loop
    assert answer.status == 401
    assert answer.header("Content-Type") == "application/problem+json"


@pytest.mark.parametrize("memo_entries", [10_000, 1])  # 1: every memo starts again each time
def test_each_token_keeps_its_own_budget_and_revocation(
    edge_client, tokens, redis_server, monkeypatch, memo_entries
):
    monkeypatch.setattr("gateway_service.fast_path._MEMO_ENTRIES", memo_entries)
    edge = edge_client(RATE_LIMIT="3/minute")
    alice = tokens.bearer(1, "alice", jti="j-alice")
    bob = tokens.bearer(2, "bob", jti="j-bob")
    first = [edge.request("GET", "/api/items", who).status for who in (alice, bob, alice, bob)]
    RevocationList(lambda: redis_server).revoke_token("j-bob", time.time() + 900)

    alice_again, bob_again = (edge.request("GET", "/api/items", who) for who in (alice, bob))
    alice_over = edge.request("GET", "/api/items", alice)

    assert first == [200, 200, 200, 200]
    assert (alice_again.on_loop, alice_again.status) == (True, 200)
    assert alice_again.header("RateLimit-Remaining") == "0"
    assert bob_again.status == 401
    assert alice_over.status == 429


def news_subscribed(edge) -> None:
    """Let the edge's loop run until its revocation news is followed."""
    news = edge.edge.news

    async def wait() -> None:
        for _ in range(500):
            if news.live:
                return
            await asyncio.sleep(0.01)

    edge.loop.run_until_complete(wait())
    assert news.live


def script_runs(redis_server) -> int:
    """Round trips the edge has made for counts and marks (its one script)."""
    stats = redis_server.info("commandstats")
    return sum(stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("evalsha", "eval"))


def test_a_token_vouched_for_costs_no_round_trip_and_its_revocation_counts_at_once(
    edge_client, tokens, redis_server
):
    edge = edge_client()
    bearer = tokens.bearer(3, "carol", jti="j-carol", sid="s-carol")
    assert edge.request("GET", "/api/items", bearer).status == 200  # verified in a thread
    assert edge.request("GET", "/api/items", bearer).on_loop  # starts following the news
    news_subscribed(edge)
    assert edge.request("GET", "/api/items", bearer).on_loop  # marks read clean: vouched

    before = script_runs(redis_server)
    answers = [edge.request("GET", "/api/items", bearer) for _ in range(32)]
    assert [(a.on_loop, a.status) for a in answers] == [(True, 200)] * 32
    assert script_runs(redis_server) - before <= 3  # counts reserved 16 at a time
    remaining = [int(a.header("RateLimit-Remaining") or -1) for a in answers]
    assert remaining == list(range(remaining[0], remaining[0] - 32, -1))  # one each

    RevocationList(lambda: redis_server).revoke_session("s-carol", time.time() + 900)
    refused = edge.request("GET", "/api/items/1", bearer)
    assert (refused.on_loop, refused.status) == (False, 401)


def test_an_account_wide_revocation_reaches_a_vouched_token_at_once(
    edge_client, tokens, redis_server
):
    edge = edge_client()
    old = tokens.bearer(4, "dave", jti="j-dave-old", iat=int(time.time()) - 5)
    for _ in range(2):
        edge.request("GET", "/api/items", old)
    news_subscribed(edge)
    assert edge.request("GET", "/api/items", old).on_loop
    RevocationList(lambda: redis_server).revoke_account("4", lifetime=900)  # a new password

    assert edge.request("GET", "/api/items", old).status == 401
    newer = tokens.bearer(4, "dave", jti="j-dave-new", iat=int(time.time()) + 1)
    assert edge.request("GET", "/api/items", newer).status == 200  # verified in a thread
    assert [edge.request("GET", "/api/items", newer).status for _ in range(3)] == [200] * 3


def test_batched_counts_stop_exactly_at_the_limit(edge_client, tokens):
    edge = edge_client(RATE_LIMIT="40/minute")
    bearer = tokens.bearer(6, "frank")
    for _ in range(2):  # verified in a thread, then on the loop
        edge.request("GET", "/api/items", bearer)
    news_subscribed(edge)
    answers = [edge.request("GET", "/api/items", bearer) for _ in range(42)]  # 3rd to 44th
    assert [a.status for a in answers] == [200] * 38 + [429] * 4
    assert [a.header("RateLimit-Remaining") for a in answers[35:38]] == ["2", "1", "0"]


def test_loop_and_threads_count_against_one_budget(edge_client, tokens):
    edge = edge_client(RATE_LIMIT="3/minute")
    bearer = tokens.bearer(5, "eve")
    answers = [edge.request("GET", "/api/items", bearer) for _ in range(4)]
    assert [a.on_loop for a in answers] == [False, True, True, False]
    assert [a.status for a in answers] == [200, 200, 200, 429]
    assert [a.header("RateLimit-Remaining") for a in answers] == ["2", "1", "0", "0"]
    refused = answers[-1]
    assert refused.header("Content-Type") == "application/problem+json"
    assert 1 <= int(refused.header("Retry-After") or 0) <= 61


def test_with_redis_away_the_thread_path_decides(edge_client, upstream):
    edge = edge_client()
    edge.edge.counts.counter = type(edge.edge.counts.counter)(
        f"redis://127.0.0.1:{closed_port()}/0", 0.2, 0.2
    )
    answer = edge.request("GET", "/api/items")
    assert not answer.on_loop
    assert answer.status == 200
    assert len(upstream.seen) == 1


def test_an_upstream_that_is_down_is_a_502_then_an_open_circuit(edge_client):
    edge = edge_client(
        CONTENT_SERVICE_URL=f"http://127.0.0.1:{closed_port()}", CIRCUIT_FAILURE_THRESHOLD=2
    )
    answers = [edge.request("GET", "/api/items", {"X-Request-ID": f"down-{i}"}) for i in range(3)]
    assert all(a.on_loop for a in answers)
    assert [a.status for a in answers] == [502, 502, 503]
    assert answers[0].json()["request_id"] == "down-0"
    assert answers[0].header("X-Request-ID") == "down-0"
    assert answers[2].header("Content-Type") == "application/problem+json"
    assert 1 <= int(answers[2].header("Retry-After") or 0) <= 30


def test_a_slow_upstream_is_a_504(edge_client, upstream):
    upstream.paths["/api/items"] = Scripted(200, b"{}", delay=1.5)  # read timeout: 1 s
    answer = edge_client().request("GET", "/api/items")
    assert answer.on_loop
    assert answer.status == 504
    assert answer.json()["detail"] == "The content service did not answer in time."
    assert len(upstream.seen) == 1  # a timeout is never retried


def test_a_large_answer_is_streamed_whole(edge_client, upstream):
    body = bytes(range(256)) * 4096  # 1 MiB, above what is read whole
    upstream.paths["/api/items"] = Scripted(200, body, "application/octet-stream")
    edge = edge_client()
    answer = edge.request("GET", "/api/items")
    assert answer.on_loop
    assert answer.body == body
    if not isinstance(edge, ServedEdgeClient):  # served, its length is kept: one part
        assert answer.parts > 1  # (test_loop_exchange shows it leaves while still arriving)


@pytest.mark.parametrize(
    ("raw_path", "on_loop", "sent"),
    [
        (b"/api/items/a%2Fb%20c?q=%C3%A9&r=1", True, "/api/items/a/b%20c?q=%C3%A9&r=1"),
        # Not ASCII once decoded: the thread path, which encodes it back the same way.
        (b"/api/items/%FF?q=1", False, "/api/items/%FF?q=1"),
    ],
)
def test_the_path_is_sent_on_as_the_client_encoded_it(
    edge_client, upstream, raw_path, on_loop, sent
):
    answer = edge_client().request("GET", "/api/items/x", raw_path=raw_path)
    assert answer.status == 200
    assert answer.on_loop is on_loop
    assert upstream.seen[0]["raw_uri"] == sent


def test_loop_answers_are_logged_and_counted(edge_client, caplog):
    edge = edge_client()
    with caplog.at_level(logging.INFO, logger="access"):
        answer = edge.request("GET", "/api/items/9", {"X-Request-ID": "loop-1"})
    assert answer.on_loop
    line = next(r for r in caplog.records if r.name == "access")
    assert (line.request_id, line.status, line.path) == ("loop-1", 200, "/api/items/9")
    metrics = edge.request("GET", "/metrics").body.decode()
    assert 'route="/api/<path:rest>",service="gateway",status="200"' in metrics
