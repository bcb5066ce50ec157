"""The fast path answers exactly as the Flask path would, and only takes the plain requests."""

from __future__ import annotations

import logging

import pytest
from conftest import UPSTREAM_ANSWERS, Scripted
from flask import Flask

VOLATILE = {"x-request-id", "date", "ratelimit-reset"}


def flask_cycles(app: Flask) -> list[str]:
    """The paths that went through Flask's request cycle from now on."""
    seen: list[str] = []
    fast_path = app.wsgi_app
    flask_app = fast_path.flask_app  # type: ignore[attr-defined]

    def recording(environ, start_response):
        seen.append(environ["PATH_INFO"])
        return flask_app(environ, start_response)

    fast_path.flask_app = recording  # type: ignore[attr-defined]
    return seen


def comparable(response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [(k, v) for k, v in response.headers.items() if k.lower() not in VOLATILE]
    body = response.get_data()
    return (
        response.status_code,
        sorted(headers),
        body.replace(response.headers.get("X-Request-ID", "").encode(), b"<id>"),
    )


@pytest.mark.parametrize("script", UPSTREAM_ANSWERS)
@pytest.mark.parametrize("origin", [None, "http://localhost:5173", "https://elsewhere.example"])
def test_answers_match_the_flask_path(make_app, upstream, tokens, script, origin):
    upstream.paths["/api/items/7"] = script
    bearer = tokens.bearer(1, "alice")

    def second_answer(fast_path: bool):
        # Each app starts with an empty Redis; the first use of a token is verified by Flask.
        client = make_app(RATE_LIMIT="50/minute", GATEWAY_FAST_PATH=fast_path).test_client()
        client.get("/api/items/7", headers=bearer)
        headers = {**bearer, "Host": "api.example.com:80", "User-Agent": "t", "Accept": "*/*"}
        if origin:
            headers["Origin"] = origin
        return client.get("/api/items/7?x=1", headers=headers)

    via_flask = second_answer(fast_path=False)
    via_fast = second_answer(fast_path=True)

    assert comparable(via_fast) == comparable(via_flask)
    for answer in (via_fast, via_flask):
        assert len(answer.headers.getlist("X-Request-ID")) == 1
        assert answer.headers["X-Request-ID"] != "upstream-id"
    sent_flask, sent_fast = (
        {k: v for k, v in seen["headers"].items() if k != "X-Request-Id"}
        for seen in (upstream.seen[1], upstream.seen[3])
    )
    assert sent_fast == sent_flask
    assert upstream.seen[1]["path"] == upstream.seen[3]["path"] == "/api/items/7?x=1"


def test_plain_requests_skip_flask_and_the_rest_take_it(make_app, tokens, upstream):
    app = make_app()
    cycles = flask_cycles(app)
    client = app.test_client()
    bearer = tokens.bearer(1, "alice")

    client.get("/api/items")  # anonymous
    client.get("/api/items", headers=bearer)  # first use: verified on the Flask path
    client.get("/api/items/2", headers=bearer)  # remembered: plain
    assert cycles == ["/api/items"]

    client.get("/api/items/3", headers={**bearer, "Origin": "http://localhost:3000"})  # plain
    client.post("/api/items", json={"name": "lamp"}, headers=bearer)  # plain
    client.post("/api/items", data=b"x" * (1024 * 1024 + 1), headers=bearer)  # 413 in Flask
    client.options("/api/items", headers={"Origin": "http://localhost:3000"})
    client.get("/api/items", headers={"Authorization": "Bearer junk"})
    client.get("/healthz")
    assert cycles[1:] == ["/api/items", "/api/items", "/api/items", "/healthz"]
    posted = [seen["body"] for seen in upstream.seen if seen["method"] == "POST"]
    assert posted == [b'{"name": "lamp"}']  # the oversized one never left the gateway


@pytest.mark.parametrize(
    ("method", "body", "content_type"),
    [
        ("POST", b'{"name": "lamp", "price": 3}', "application/json"),
        ("PATCH", b'{"price": 4}', "application/merge-patch+json"),
        ("PUT", b"", "application/json"),
        ("DELETE", None, None),
    ],
)
def test_requests_with_bodies_match_the_flask_path(
    make_app, upstream, tokens, method, body, content_type
):
    upstream.paths["/api/items/7"] = Scripted(201, b'{"id": 7}', headers={"Location": "/x"})
    bearer = tokens.bearer(1, "alice")

    def answer(fast_path: bool):
        client = make_app(GATEWAY_FAST_PATH=fast_path).test_client()
        client.get("/api/items/7", headers=bearer)
        headers = {**bearer, **({"Content-Type": content_type} if content_type else {})}
        return client.open("/api/items/7", method=method, data=body, headers=headers)

    via_flask, via_fast = answer(fast_path=False), answer(fast_path=True)
    assert comparable(via_fast) == comparable(via_flask)
    sent_flask, sent_fast = upstream.seen[1], upstream.seen[3]
    assert sent_fast["body"] == sent_flask["body"] == (body or b"")
    assert sent_fast["method"] == sent_flask["method"] == method
    drop = {"X-Request-Id"}
    assert {k: v for k, v in sent_fast["headers"].items() if k not in drop} == {
        k: v for k, v in sent_flask["headers"].items() if k not in drop
    }


def test_both_paths_count_against_one_budget(make_app, tokens):
    client = make_app(RATE_LIMIT="3/minute").test_client()
    bearer = tokens.bearer(5, "eve")
    answers = [client.get("/api/items", headers=bearer) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    refused = answers[-1]
    assert refused.mimetype == "application/problem+json"
    assert 1 <= int(refused.headers["Retry-After"]) <= 61


def test_plain_requests_are_logged_and_counted_like_any_other(make_app, caplog):
    client = make_app().test_client()
    with caplog.at_level(logging.INFO, logger="access"):
        client.get("/api/items/9", headers={"X-Request-ID": "fast-1"})
    line = next(r for r in caplog.records if r.name == "access")
    assert (line.request_id, line.status, line.path) == ("fast-1", 200, "/api/items/9")
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'route="/api/<path:rest>",service="gateway",status="200"' in metrics


def test_an_upstream_that_is_down_is_a_problem_on_the_fast_path_too(make_app, tokens):
    from conftest import closed_port

    client = make_app(CONTENT_SERVICE_URL=f"http://127.0.0.1:{closed_port()}").test_client()
    answer = client.get("/api/items", headers={"X-Request-ID": "down-1"})
    assert answer.status_code == 502
    assert answer.mimetype == "application/problem+json"
    assert answer.get_json()["request_id"] == "down-1"
    assert answer.headers["X-Request-ID"] == "down-1"


def test_a_remembered_token_without_an_account_id_is_still_refused(client, tokens, upstream):
    headers = tokens.bearer(1, "odd", sub="not-a-number")
    answers = [client.get("/api/items", headers=headers) for _ in range(2)]
    assert [a.status_code for a in answers] == [401, 401]
    assert all(a.mimetype == "application/problem+json" for a in answers)
    assert upstream.seen == []


def test_an_unexpected_failure_is_a_500_problem_with_the_request_id(make_app, monkeypatch):
    app = make_app()
    upstream = app.extensions["upstreams"]["content"]
    monkeypatch.setattr(upstream, "request", lambda *a, **k: 1 / 0)
    answer = app.test_client().get("/api/items", headers={"X-Request-ID": "boom-1"})
    assert answer.status_code == 500
    assert answer.mimetype == "application/problem+json"
    assert answer.get_json()["request_id"] == "boom-1"
    assert "ZeroDivision" not in answer.get_data(as_text=True)


@pytest.mark.parametrize("fast_path", [True, False])
def test_a_body_shorter_than_announced_is_a_400_problem(make_app, fast_path):
    client = make_app(GATEWAY_FAST_PATH=fast_path).test_client()
    answer = client.post(
        "/api/items",
        data=b"12345",
        content_type="application/json",
        environ_overrides={"CONTENT_LENGTH": "10"},
    )
    assert answer.status_code == 400
    assert answer.mimetype == "application/problem+json"
