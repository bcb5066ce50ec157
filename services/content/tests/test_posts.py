"""Posts: fields and bounds, ownership, lists with filters."""

from __future__ import annotations

import pytest

NEW_POST = {"title": "Hello", "content": "First post"}


def create(client, headers, **fields):
    response = client.post("/api/posts", json={**NEW_POST, **fields}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response


def test_create_returns_the_post_location_and_etag(client, auth_headers):
    response = create(client, auth_headers)
    post = response.get_json()
    assert set(post) == {
        "id",
        "title",
        "content",
        "author",
        "author_id",
        "created_at",
        "updated_at",
    }
    assert (post["author"], post["author_id"]) == ("alice", 1)
    assert post["created_at"].endswith("Z")
    assert response.headers["Location"] == f"/api/posts/{post['id']}"
    fetched = client.get(response.headers["Location"])
    assert fetched.get_json() == post
    assert fetched.headers["ETag"] == response.headers["ETag"]


def test_create_needs_a_token(client):
    assert client.post("/api/posts", json=NEW_POST).status_code == 401


def test_bounds_are_accepted_at_the_edges(client, auth_headers):
    create(client, auth_headers, title="t" * 200, content="c" * 100_000)
    create(client, auth_headers, title="t", content="c")


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"title": "", "content": "c"}, ["title"]),
        ({"title": "   ", "content": "c"}, ["title"]),
        ({"title": "t" * 201, "content": "c"}, ["title"]),
        ({"title": "t", "content": ""}, ["content"]),
        ({"title": "t", "content": "c" * 100_001}, ["content"]),
        ({"title": 1, "content": None}, ["title", "content"]),
        ({}, ["title", "content"]),
        ({**NEW_POST, "author_id": 2}, ["author_id"]),
        ({**NEW_POST, "author": "bob"}, ["author"]),
        (
            {**NEW_POST, "id": 1, "created_at": "x", "updated_at": "y"},
            ["id", "created_at", "updated_at"],
        ),
        ({**NEW_POST, "tags": []}, ["tags"]),
    ],
)
def test_create_validation_one_entry_per_field(client, auth_headers, body, fields):
    response = client.post("/api/posts", json=body, headers=auth_headers)
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["type"] == "about:blank"
    assert [e["field"] for e in problem["errors"]] == fields
    assert client.get("/api/posts").headers["X-Total-Count"] == "0"


def test_server_owned_fields_say_so(client, auth_headers):
    response = client.post(
        "/api/posts", json={**NEW_POST, "author_id": 2, "x": 1}, headers=auth_headers
    )
    messages = {e["field"]: e["message"] for e in response.get_json()["errors"]}
    assert messages == {"author_id": "read-only field, set by the server", "x": "unknown field"}


def test_put_replaces_and_patch_merges(client, auth_headers):
    post = create(client, auth_headers).get_json()
    url = f"/api/posts/{post['id']}"
    patched = client.patch(url, json={"title": "New title"}, headers=auth_headers).get_json()
    assert (patched["title"], patched["content"]) == ("New title", "First post")
    assert patched["updated_at"] >= post["updated_at"]
    assert patched["created_at"] == post["created_at"]
    put = client.put(url, json={"title": "T2", "content": "C2"}, headers=auth_headers)
    assert put.status_code == 200
    assert (put.get_json()["title"], put.get_json()["content"]) == ("T2", "C2")
    partial_put = client.put(url, json={"title": "only"}, headers=auth_headers)
    assert partial_put.status_code == 422
    assert client.patch(url, json={"author_id": 5}, headers=auth_headers).status_code == 422
    assert client.get(url).get_json()["author_id"] == 1


def test_others_get_403_and_nothing_changes(client, auth_headers, tokens):
    post = create(client, auth_headers).get_json()
    url = f"/api/posts/{post['id']}"
    mallory = tokens.bearer(2, "mallory")
    assert client.patch(url, json={"title": "x"}, headers=mallory).status_code == 403
    assert client.put(url, json=NEW_POST | {"title": "x"}, headers=mallory).status_code == 403
    assert client.delete(url, headers=mallory).status_code == 403
    assert client.get(url).get_json() == post
    # A client-sent identity header is ignored: only the verified token counts.
    spoof = {**mallory, "X-User-Id": "1", "X-Roles": "admin"}
    assert client.delete(url, headers=spoof).status_code == 403
    admin = tokens.bearer(3, "root", roles=["admin"])
    assert client.patch(url, json={"title": "moderated"}, headers=admin).status_code == 200
    assert client.delete(url, headers=admin).status_code == 204
    assert client.get(url).status_code == 404


def test_author_deletes(client, auth_headers):
    post = create(client, auth_headers).get_json()
    assert client.delete(f"/api/posts/{post['id']}", headers=auth_headers).status_code == 204
    assert client.delete(f"/api/posts/{post['id']}", headers=auth_headers).status_code == 404
    assert client.get("/api/posts").headers["X-Total-Count"] == "0"


def test_filters_author_and_q(client, tokens):
    alice, bob = tokens.bearer(1, "alice"), tokens.bearer(2, "bob")
    create(client, alice, title="Flask tips", content="blueprints")
    create(client, alice, title="Cooking", content="100% pasta_al dente")
    create(client, bob, title="Gardening", content="FLASK of water")
    by_alice = client.get("/api/posts?author=alice")
    assert {p["title"] for p in by_alice.get_json()} == {"Flask tips", "Cooking"}
    assert by_alice.headers["X-Total-Count"] == "2"
    assert client.get("/api/posts?author=nobody").get_json() == []
    by_q = client.get("/api/posts?q=flask")
    assert {p["title"] for p in by_q.get_json()} == {"Flask tips", "Gardening"}
    assert client.get("/api/posts?q=flask&author=bob").headers["X-Total-Count"] == "1"
    # LIKE wildcards in q are literal characters.
    assert [p["title"] for p in client.get("/api/posts?q=100%25").get_json()] == ["Cooking"]
    assert [p["title"] for p in client.get("/api/posts?q=a_a").get_json()] == ["Cooking"]
    assert client.get("/api/posts?q=_").headers["X-Total-Count"] == "1"


@pytest.mark.parametrize(
    "sort", ["title", "-title", "created_at", "-created_at", "updated_at", "-updated_at"]
)
def test_sorts(client, auth_headers, sort):
    for title in ("b", "c", "a"):
        create(client, auth_headers, title=title)
    titles = [p["title"] for p in client.get(f"/api/posts?sort={sort}").get_json()]
    by_creation = ["b", "c", "a"]
    expected = {"title": ["a", "b", "c"], "created_at": by_creation, "updated_at": by_creation}
    field = sort.removeprefix("-")
    assert titles == (expected[field][::-1] if sort.startswith("-") else expected[field])


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("sort=author", "sort"),
        ("sort=-", "sort"),
        ("page=-1", "page"),
        ("per_page=0", "per_page"),
        ("q=" + "x" * 201, "q"),
        ("author=" + "x" * 81, "author"),
    ],
)
def test_bad_list_parameters(client, query, field):
    response = client.get(f"/api/posts?{query}")
    assert response.status_code == 422
    assert [e["field"] for e in response.get_json()["errors"]] == [field]
