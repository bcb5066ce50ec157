"""Answers are built from our own rows without model validation: each must still be exactly
its Public schema (the one the OpenAPI document shows), field for field and type for type."""

from __future__ import annotations

from pydantic import BaseModel

from content_service.schemas import ItemPublic, PostPublic, UserPublic


def _exactly(schema: type[BaseModel], body: dict, without: set[str] = frozenset()) -> None:
    assert set(body) == set(schema.model_fields) - without
    dumped = schema.model_validate(body, strict=False).model_dump(mode="json")
    assert {key: dumped[key] for key in body} == body


def test_item_post_and_profile_answers_are_their_public_schemas(
    client, auth_headers, create_account
):
    create_account(1, "alice")
    item = client.post(
        "/api/items",
        json={"name": "Lamp ✓", "description": "", "price": 12.5},
        headers=auth_headers,
    )
    post = client.post("/api/posts", json={"title": "T", "content": "C"}, headers=auth_headers)
    for created, schema in ((item, ItemPublic), (post, PostPublic)):
        assert created.status_code == 201
        _exactly(schema, created.get_json())
        fetched = client.get(created.headers["Location"]).get_json()
        assert fetched == created.get_json()
        (listed,) = client.get(created.headers["Location"].rsplit("/", 1)[0]).get_json()
        assert listed == fetched
    assert client.get(item.headers["Location"]).get_json()["price"] == 12.5
    assert client.get(post.headers["Location"]).get_json()["author"] == "alice"
    _exactly(UserPublic, client.get("/api/users/1").get_json(), without={"email"})
    _exactly(UserPublic, client.get("/api/users/1", headers=auth_headers).get_json())
    (listed_user,) = client.get("/api/users").get_json()
    _exactly(UserPublic, listed_user, without={"email"})
