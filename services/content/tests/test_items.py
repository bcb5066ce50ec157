"""Items CRUD through the content service's own HTTP interface."""

from __future__ import annotations

import pytest

NEW_ITEM = {"name": "Widget", "description": "A useful widget", "price": 9.5}


def create(client, headers, **fields):
    response = client.post("/api/items", json={**NEW_ITEM, **fields}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response


def test_create_returns_resource_and_location(client, auth_headers):
    response = create(client, auth_headers)
    item = response.get_json()
    assert item["name"] == "Widget"
    assert item["price"] == 9.5
    assert item["owner_id"] == 1
    assert response.headers["Location"] == f"/api/items/{item['id']}"
    assert client.get(response.headers["Location"]).get_json() == item


def test_create_requires_a_token(client):
    response = client.post("/api/items", json=NEW_ITEM)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_create_refuses_a_token_signed_by_another_key(client):
    from shared.testing import TokenFactory

    forged = TokenFactory().bearer(1, "alice")
    assert client.post("/api/items", json=NEW_ITEM, headers=forged).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "", "price": 1}, "name"),
        ({"name": "x" * 101, "price": 1}, "name"),
        ({"name": "ok", "price": -1}, "price"),
        ({"name": "ok", "price": "12"}, "price"),
        ({"name": "ok"}, "price"),
        ({"name": "ok", "price": 1, "owner_id": 7}, "owner_id"),
        ({"name": "ok", "price": 1, "id": 7}, "id"),
        ({"name": "ok", "price": 1, "colour": "red"}, "colour"),
    ],
)
def test_create_validation(client, auth_headers, body, field):
    response = client.post("/api/items", json=body, headers=auth_headers)
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["status"] == 422
    assert field in [e["field"] for e in problem["errors"]]


def test_body_that_is_not_json(client, auth_headers):
    response = client.post(
        "/api/items", data="name=x", content_type="text/plain", headers=auth_headers
    )
    assert response.status_code == 415
    response = client.post(
        "/api/items", data="{not json", content_type="application/json", headers=auth_headers
    )
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"


def test_list_pages_and_headers(client, auth_headers):
    for n in range(5):
        create(client, auth_headers, name=f"item {n}", price=n)
    response = client.get("/api/items?per_page=2&page=2&sort=price")
    assert response.status_code == 200
    assert [i["price"] for i in response.get_json()] == [2, 3]
    assert response.headers["X-Total-Count"] == "5"
    link = response.headers["Link"]
    for rel in ("first", "prev", "next", "last"):
        assert f'rel="{rel}"' in link
    assert "page=3" in link


@pytest.mark.parametrize("query", ["page=0", "per_page=101", "per_page=x", "sort=secret"])
def test_list_rejects_bad_paging(client, query):
    response = client.get(f"/api/items?{query}")
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"


def test_owner_updates_and_deletes(client, auth_headers):
    item = create(client, auth_headers).get_json()
    url = f"/api/items/{item['id']}"
    patched = client.patch(url, json={"price": 12}, headers=auth_headers)
    assert patched.status_code == 200
    assert patched.get_json()["price"] == 12
    assert patched.get_json()["name"] == "Widget"
    replaced = client.put(url, json={"name": "Gadget", "price": 3}, headers=auth_headers)
    assert replaced.get_json()["description"] == ""
    assert client.delete(url, headers=auth_headers).status_code == 204
    assert client.get(url).status_code == 404


def test_other_user_cannot_change(client, auth_headers, tokens):
    item = create(client, auth_headers).get_json()
    url = f"/api/items/{item['id']}"
    mallory = tokens.bearer(2, "mallory")
    assert client.patch(url, json={"price": 0}, headers=mallory).status_code == 403
    assert client.delete(url, headers=mallory).status_code == 403
    assert client.get(url).get_json()["price"] == 9.5
    admin = tokens.bearer(3, "root", roles=["admin"])
    assert client.delete(url, headers=admin).status_code == 204


def test_revoked_token_is_refused(client, auth_headers, redis_server, tokens):
    token = tokens.token(1, "alice")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/items", json=NEW_ITEM, headers=headers).status_code == 201
    import jwt

    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    redis_server.set(f"revoked:jti:{jti}", "1")
    assert client.post("/api/items", json=NEW_ITEM, headers=headers).status_code == 401


def test_price_filters_are_inclusive_and_q_matches_name_or_description(client, auth_headers):
    for name, price, description in (
        ("Lamp", 10, "desk"),
        ("Chair", 20, "lamp-side"),
        ("Desk", 30.5, ""),
    ):
        create(client, auth_headers, name=name, price=price, description=description)
    names = lambda query: sorted(i["name"] for i in client.get(f"/api/items?{query}").get_json())  # noqa: E731
    assert names("min_price=20") == ["Chair", "Desk"]
    assert names("max_price=20") == ["Chair", "Lamp"]
    assert names("min_price=10&max_price=20") == ["Chair", "Lamp"]
    assert names("min_price=30.5&max_price=30.5") == ["Desk"]
    assert names("q=LAMP") == ["Chair", "Lamp"]
    assert names("q=lamp&max_price=15") == ["Lamp"]
    response = client.get("/api/items?min_price=15")
    assert response.headers["X-Total-Count"] == "2"


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("min_price=abc", ["min_price"]),
        ("max_price=-1", ["max_price"]),
        ("min_price=nan&max_price=inf", ["min_price", "max_price"]),
        ("min_price=5&max_price=1", ["min_price"]),
        ("sort=owner_id", ["sort"]),
        ("per_page=100&page=abc", ["page"]),
    ],
)
def test_bad_item_filters(client, query, fields):
    response = client.get(f"/api/items?{query}")
    assert response.status_code == 422
    assert [e["field"] for e in response.get_json()["errors"]] == fields


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"name": "ok", "price": 1.005}, ["price"]),
        ({"name": "ok", "price": 10_000_000_000}, ["price"]),
        ({"name": "ok", "price": True}, ["price"]),
        ({"name": "ok", "price": 1, "description": "d" * 10_001}, ["description"]),
        ({"name": " ", "price": -3, "created_at": "x"}, ["name", "price", "created_at"]),
    ],
)
def test_more_item_validation(client, auth_headers, body, fields):
    response = client.post("/api/items", json=body, headers=auth_headers)
    assert response.status_code == 422
    assert [e["field"] for e in response.get_json()["errors"]] == fields


def test_item_edges_and_patch_rules(client, auth_headers):
    item = create(
        client, auth_headers, name="n" * 100, price=0, description="d" * 10_000
    ).get_json()
    url = f"/api/items/{item['id']}"
    assert (
        client.patch(url, json={"price": 9_999_999_999.99}, headers=auth_headers).status_code == 200
    )
    assert client.patch(url, json={"description": None}, headers=auth_headers).status_code == 422
    assert client.patch(url, json={"owner_id": 2}, headers=auth_headers).status_code == 422
    assert client.patch(url, json={}, headers=auth_headers).status_code == 422
    assert client.get(url).get_json()["owner_id"] == 1


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("post", "/api/items", "items:write"),
        ("post", "/api/posts", "posts:write"),
        ("patch", "/api/users/1", "profile"),
    ],
)
def test_a_write_needs_its_scope(client, tokens, create_account, method, path, scope):
    create_account(1, "alice")
    others = " ".join(s for s in ("profile", "items:write", "posts:write") if s != scope)
    headers = tokens.bearer(1, "alice", scope=others)
    bodies = {
        "/api/items": {"name": "Lamp", "price": 1},
        "/api/posts": {"title": "t", "content": "c"},
        "/api/users/1": {"bio": "changed"},
    }
    response = getattr(client, method)(path, json=bodies[path], headers=headers)
    assert response.status_code == 403
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer error="insufficient_scope", scope="{scope}"'
    )
    assert client.get("/api/items").get_json() == []
    assert client.get("/api/posts").get_json() == []
    assert client.get("/api/users/1").get_json()["bio"] == ""


def test_an_admin_token_without_the_admin_scope_has_a_users_rights(client, tokens, create_account):
    create_account(1, "alice")
    create_account(2, "root")
    item = client.post(
        "/api/items", json={"name": "Lamp", "price": 1}, headers=tokens.bearer(1, "alice")
    ).get_json()
    limited = tokens.bearer(2, "root", roles=["admin"], scope="items:write")
    assert client.delete(f"/api/items/{item['id']}", headers=limited).status_code == 403
    assert client.get(f"/api/items/{item['id']}").status_code == 200
    full = tokens.bearer(2, "root", roles=["admin"])
    assert client.delete(f"/api/items/{item['id']}", headers=full).status_code == 204


@pytest.mark.parametrize("kind", ["items", "posts"])
def test_a_deleted_id_is_never_given_again(client, create_account, auth_headers, kind):
    """Regression: SQLite reused the highest id after a delete, so a deleted resource's URL
    came back as another resource."""
    create_account(1, "alice")
    body = {"items": {"name": "n", "price": 1}, "posts": {"title": "t", "content": "c"}}[kind]
    first = client.post(f"/api/{kind}", json=body, headers=auth_headers).get_json()
    second = client.post(f"/api/{kind}", json=body, headers=auth_headers).get_json()
    assert client.delete(f"/api/{kind}/{second['id']}", headers=auth_headers).status_code == 204
    third = client.post(f"/api/{kind}", json=body, headers=auth_headers).get_json()
    assert third["id"] > second["id"] > first["id"]
    assert client.get(f"/api/{kind}/{second['id']}").status_code == 404


def test_a_delete_answers_204_without_body_headers(client, create_account, auth_headers):
    """Regression: the 204 carried Content-Type: text/html."""
    create_account(1, "alice")
    item = client.post("/api/items", json={"name": "n", "price": 1}, headers=auth_headers)
    response = client.delete(f"/api/items/{item.get_json()['id']}", headers=auth_headers)
    assert response.status_code == 204
    assert "Content-Type" not in response.headers and "Content-Length" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"


def test_a_create_verifies_its_token_once(app, client, auth_headers, monkeypatch):
    verifier = app.extensions["suite_token_verifier"]
    calls = []
    verify = verifier.verify

    def counted(token, expected_type="access"):
        calls.append(expected_type)
        return verify(token, expected_type)

    monkeypatch.setattr(verifier, "verify", counted)
    created = client.post(
        "/api/items",
        json={"name": "n", "price": 1},
        headers={**auth_headers, "Idempotency-Key": "once"},
    )
    assert created.status_code == 201
    assert calls == ["access"]
