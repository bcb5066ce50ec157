"""Idempotency-Key on POST: replay, 422 on another body, 409 while in flight, per caller, 24 h."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import update

from content_service import idempotency
from content_service.extensions import db
from content_service.models import IdempotencyRecord, utcnow

COLLECTIONS = [
    ("/api/posts", {"title": "T", "content": "C"}),
    ("/api/items", {"name": "N", "price": 1}),
]


@pytest.fixture(params=COLLECTIONS, ids=["posts", "items"])
def collection(request):
    return request.param


def total(client, url):
    return int(client.get(url).headers["X-Total-Count"])


def test_same_key_same_body_replays_and_creates_nothing(client, auth_headers, collection):
    url, body = collection
    headers = {**auth_headers, "Idempotency-Key": "k-1"}
    first = client.post(url, json=body, headers=headers)
    assert first.status_code == 201
    # The same JSON, spelled differently, is the same request.
    respelled = client.post(
        url,
        data=" " + json.dumps(dict(reversed(body.items()))),
        content_type="application/json",
        headers=headers,
    )
    for again in (client.post(url, json=body, headers=headers), respelled):
        assert again.status_code == 201
        assert again.get_json() == first.get_json()
        assert again.headers["Location"] == first.headers["Location"]
        assert again.headers["Idempotent-Replayed"] == "true"
    assert total(client, url) == 1


def test_same_key_other_body_is_422(client, auth_headers, collection):
    url, body = collection
    headers = {**auth_headers, "Idempotency-Key": "k-2"}
    assert client.post(url, json=body, headers=headers).status_code == 201
    first_field = next(iter(body))  # title or name
    other = client.post(url, json={**body, first_field: "Other"}, headers=headers)
    assert other.status_code == 422
    assert other.get_json()["errors"][0]["field"] == "Idempotency-Key"
    assert total(client, url) == 1


def test_same_key_other_path_is_422(client, auth_headers):
    headers = {**auth_headers, "Idempotency-Key": "shared"}
    assert (
        client.post("/api/items", json={"name": "N", "price": 1}, headers=headers).status_code
        == 201
    )
    assert (
        client.post("/api/posts", json={"title": "T", "content": "C"}, headers=headers).status_code
        == 422
    )


def test_keys_are_scoped_to_the_caller(client, tokens, collection):
    url, body = collection
    alice = {**tokens.bearer(1, "alice"), "Idempotency-Key": "same"}
    bob = {**tokens.bearer(2, "bob"), "Idempotency-Key": "same"}
    a = client.post(url, json=body, headers=alice).get_json()
    b = client.post(url, json=body, headers=bob)
    assert b.status_code == 201
    assert b.get_json()["id"] != a["id"]
    assert "Idempotent-Replayed" not in b.headers
    assert total(client, url) == 2


def test_in_flight_repeat_is_409(app, client, auth_headers, collection):
    url, body = collection
    with app.test_request_context(url, method="POST", json=body):
        claimed = idempotency.claim(1, "busy", idempotency.fingerprint())
    assert isinstance(claimed, int)
    response = client.post(url, json=body, headers={**auth_headers, "Idempotency-Key": "busy"})
    assert response.status_code == 409
    assert response.headers["Retry-After"] == "1"
    assert total(client, url) == 0


def test_abandoned_claim_is_taken_over(app, client, auth_headers, collection):
    url, body = collection
    with app.test_request_context(url, method="POST", json=body):
        claimed = idempotency.claim(1, "dead", idempotency.fingerprint())
        db.session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == claimed)
            .values(created_at=utcnow() - timedelta(minutes=5))
        )
        db.session.commit()
    response = client.post(url, json=body, headers={**auth_headers, "Idempotency-Key": "dead"})
    assert response.status_code == 201


def test_failed_request_releases_the_key(client, auth_headers, collection):
    url, body = collection
    headers = {**auth_headers, "Idempotency-Key": "retry-me"}
    assert client.post(url, json={"bad": 1}, headers=headers).status_code == 422
    assert client.post(url, json=body, headers=headers).status_code == 201


def test_keys_expire_after_24_hours(app, client, auth_headers, collection):
    url, body = collection
    headers = {**auth_headers, "Idempotency-Key": "old"}
    assert client.post(url, json=body, headers=headers).status_code == 201
    with app.app_context():
        db.session.execute(
            update(IdempotencyRecord).values(created_at=utcnow() - timedelta(hours=25))
        )
        db.session.commit()
    again = client.post(url, json=body, headers=headers)
    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again.headers
    assert total(client, url) == 2
    with app.app_context():
        db.session.execute(
            update(IdempotencyRecord).values(created_at=utcnow() - timedelta(hours=25))
        )
        db.session.commit()
        assert idempotency.purge_expired() == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "ünï"])
def test_malformed_key_is_422(client, auth_headers, key):
    response = client.post(
        "/api/items",
        json={"name": "N", "price": 1},
        headers={**auth_headers, "Idempotency-Key": key},
    )
    assert response.status_code == 422
    assert total(client, "/api/items") == 0


def test_key_without_token_is_401(client):
    response = client.post(
        "/api/items", json={"name": "N", "price": 1}, headers={"Idempotency-Key": "k"}
    )
    assert response.status_code == 401


def test_a_repeat_during_the_first_request_is_409_then_replays(app, auth_headers, monkeypatch):
    """Two real requests at once: the second arrives while the first is still working."""
    import threading

    from content_service import items

    first_started, release_first = threading.Event(), threading.Event()
    original_parse = items.parse

    def slow_parse(*args, **kwargs):
        first_started.set()
        release_first.wait(10)
        return original_parse(*args, **kwargs)

    monkeypatch.setattr(items, "parse", slow_parse)
    headers = {**auth_headers, "Idempotency-Key": "racing"}
    body = {"name": "N", "price": 1}
    answers = {}

    def first_request():
        answers["first"] = app.test_client().post("/api/items", json=body, headers=headers)

    worker = threading.Thread(target=first_request)
    worker.start()
    assert first_started.wait(10)
    monkeypatch.setattr(items, "parse", original_parse)
    second = app.test_client().post("/api/items", json=body, headers=headers)
    release_first.set()
    worker.join(10)
    assert second.status_code == 409
    assert answers["first"].status_code == 201
    third = app.test_client().post("/api/items", json=body, headers=headers)
    assert third.status_code == 201
    assert third.get_json() == answers["first"].get_json()
