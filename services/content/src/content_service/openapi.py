"""Content's OpenAPI 3.1 document, built from the same pydantic schemas that validate requests."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel

from content_service import items, posts, users
from content_service.idempotency import HEADER as IDEMPOTENCY_HEADER
from content_service.schemas import (
    ItemCreate,
    ItemPublic,
    ItemUpdate,
    PostCreate,
    PostPublic,
    PostUpdate,
    UserPublic,
    UserUpdate,
)
from shared.openapi import (
    BEARER,
    ETAG_HEADER,
    IF_NONE_MATCH,
    LICENSE,
    LIST_HEADERS,
    NOT_MODIFIED,
    PUBLIC,
    SERVERS,
    base_components,
    component_schemas,
    finish,
    id_param,
    if_match,
    json_content,
    paging_parameters,
    problems,
    query,
    ref,
)
from shared.openapi import header as header_param
from shared.paging import MAX_PER_PAGE

bp = Blueprint("openapi", __name__)

# Text filters refuse U+0000 (content_service.validation: PostgreSQL cannot compare it), so
# their schema says so; a fuzzer then never takes the 422 for a valid request refused.
WITHOUT_NUL = "^[^\\u0000]*$"

REQUEST_SCHEMAS: tuple[type[BaseModel], ...] = (
    UserUpdate,
    PostCreate,
    PostUpdate,
    ItemCreate,
    ItemUpdate,
)
RESPONSE_SCHEMAS: tuple[type[BaseModel], ...] = (UserPublic, PostPublic, ItemPublic)


@bp.get("/openapi.json")
def document() -> Response:
    return jsonify(openapi_document())


def openapi_document() -> dict[str, Any]:
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "Content service",
            "version": "1.0.0",
            "description": "User profiles, posts and items. Through the gateway at /api.",
            "license": LICENSE,
        },
        "servers": SERVERS,
        "tags": [
            {"name": "users", "description": "Profiles, one per auth account (same id)."},
            {"name": "posts", "description": "Posts; the author or an admin changes them."},
            {"name": "items", "description": "Items; the owner or an admin changes them."},
        ],
        "paths": {
            "/api/users": {"get": _list_op("users", "UserPublic", users.SORTABLE, [])},
            "/api/users/{id}": {
                "parameters": [id_param("id", "user")],
                "get": _get_op("users", "UserPublic"),
                "patch": _write_op(
                    "update",
                    "users",
                    "Update a profile (the user or an admin)",
                    "UserUpdate",
                    "UserPublic",
                ),
            },
            "/api/posts": {
                "get": _list_op(
                    "posts",
                    "PostPublic",
                    posts.SORTABLE,
                    [
                        query(
                            "author",
                            "Only posts by this username.",
                            {"type": "string", "maxLength": 80, "pattern": WITHOUT_NUL},
                        ),
                        query(
                            "q",
                            "Text in the title or the content.",
                            {"type": "string", "maxLength": 200, "pattern": WITHOUT_NUL},
                        ),
                    ],
                ),
                "post": _create_op("posts", "PostCreate", "PostPublic"),
            },
            "/api/posts/{id}": _single("posts", "post", "Post"),
            "/api/items": {
                "get": _list_op(
                    "items",
                    "ItemPublic",
                    items.SORTABLE,
                    [
                        query(
                            "q",
                            "Text in the name or the description.",
                            {"type": "string", "maxLength": 200, "pattern": WITHOUT_NUL},
                        ),
                        query(
                            "min_price",
                            "Price at least this (inclusive).",
                            {"type": "number", "minimum": 0},
                        ),
                        query(
                            "max_price",
                            "Price at most this (inclusive).",
                            {"type": "number", "minimum": 0},
                        ),
                    ],
                ),
                "post": _create_op("items", "ItemCreate", "ItemPublic"),
            },
            "/api/items/{id}": _single("items", "item", "Item"),
        },
        "components": base_components(component_schemas(REQUEST_SCHEMAS, RESPONSE_SCHEMAS)),
    }
    return finish(document)


def _noun(tag: str) -> str:
    """posts -> Post: the singular in an operationId."""
    return tag.removesuffix("s").title()


def _links(tag: str) -> dict[str, Any]:
    """From a created resource to what can be done with it (stateful clients follow these)."""
    noun = _noun(tag)
    by_id = {"id": "$response.body#/id"}
    return {
        f"{verb.title()}{noun}": {"operationId": f"{verb}{noun}", "parameters": by_id}
        for verb in ("get", "replace", "update", "delete")
    }


def _list_op(
    tag: str, public: str, sortable: tuple[str, ...], filters: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "operationId": f"list{tag.title()}",
        "tags": [tag],
        "security": PUBLIC,
        "summary": f"List {tag}",
        "parameters": [*paging_parameters(sortable, "-created_at"), *filters],
        "responses": {
            "200": {
                "description": "One page.",
                "headers": LIST_HEADERS,
                "content": json_content(
                    {"type": "array", "items": ref(public), "maxItems": MAX_PER_PAGE}
                ),
            },
            **problems("414", "422"),
        },
    }


def _get_op(tag: str, public: str) -> dict[str, Any]:
    return {
        "operationId": f"get{_noun(tag)}",
        "tags": [tag],
        "security": PUBLIC,
        "summary": f"Get one of {tag}",
        "parameters": [IF_NONE_MATCH],
        "responses": {
            "200": {
                "description": "The resource.",
                "headers": ETAG_HEADER,
                "content": json_content(ref(public)),
            },
            "304": NOT_MODIFIED,
            **problems("401", "404", "422"),
        },
    }


def _create_op(tag: str, create: str, public: str) -> dict[str, Any]:
    return {
        "operationId": f"create{_noun(tag)}",
        "tags": [tag],
        "summary": f"Create one of {tag}",
        "security": BEARER,
        "parameters": [
            header_param(
                IDEMPOTENCY_HEADER,
                "Repeat within 24 h to replay the first answer.",
                # The same rule as idempotency._VALID_KEY: 1 to 255 visible ASCII characters.
                {"type": "string", "pattern": "^[!-~]{1,255}$"},
            )
        ],
        "requestBody": {"required": True, "content": json_content(ref(create))},
        "responses": {
            "201": {
                "description": "Created (or the replay of the first answer to this key).",
                "headers": {
                    **ETAG_HEADER,
                    "Location": {"description": "The new resource.", "schema": {"type": "string"}},
                },
                "content": json_content(ref(public)),
                "links": _links(tag),
            },
            **problems("400", "401", "403", "409", "415", "422", "503"),
        },
    }


def _write_op(verb: str, tag: str, summary: str, body: str, public: str) -> dict[str, Any]:
    return {
        "operationId": f"{verb}{_noun(tag)}",
        "tags": [tag],
        "summary": summary,
        "security": BEARER,
        "parameters": [if_match("changes nothing")],
        "requestBody": {"required": True, "content": json_content(ref(body))},
        "responses": {
            "200": {
                "description": "The changed resource.",
                "headers": ETAG_HEADER,
                "content": json_content(ref(public)),
            },
            **problems("400", "401", "403", "404", "412", "415", "422", "503"),
        },
    }


def _single(tag: str, noun: str, model: str) -> dict[str, Any]:
    public = f"{model}Public"
    return {
        "parameters": [id_param("id", noun)],
        "get": _get_op(tag, public),
        "put": _write_op(
            "replace", tag, f"Replace a {noun} (owner or admin)", f"{model}Create", public
        ),
        "patch": _write_op(
            "update",
            tag,
            f"Change some fields of a {noun} (owner or admin)",
            f"{model}Update",
            public,
        ),
        "delete": {
            "operationId": f"delete{_noun(tag)}",
            "tags": [tag],
            "summary": f"Delete a {noun} (owner or admin)",
            "security": BEARER,
            "parameters": [if_match("deletes nothing")],
            "responses": {
                "204": {"description": "Deleted."},
                **problems("401", "403", "404", "412", "422", "503"),
            },
        },
    }
