"""Content's OpenAPI 3.1 document, built from the same pydantic schemas that validate requests."""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from content_service import items, posts, users
from content_service.idempotency import HEADER as IDEMPOTENCY_HEADER
from content_service.paging import DEFAULT_PER_PAGE, MAX_PER_PAGE
from content_service.schemas import (
    ItemCreate,
    ItemPublic,
    ItemUpdate,
    PostCreate,
    PostPublic,
    PostUpdate,
    ProblemDetails,
    UserPublic,
    UserUpdate,
)

bp = Blueprint("openapi", __name__)

REQUEST_SCHEMAS: tuple[type[BaseModel], ...] = (
    UserUpdate,
    PostCreate,
    PostUpdate,
    ItemCreate,
    ItemUpdate,
)
RESPONSE_SCHEMAS: tuple[type[BaseModel], ...] = (UserPublic, PostPublic, ItemPublic, ProblemDetails)

PROBLEMS = {
    "400": ("BadRequest", "The body is not valid JSON."),
    "401": ("Unauthorized", "Missing, invalid, expired or revoked access token."),
    "403": ("Forbidden", "Signed in, but not the owner (or author) and not an admin."),
    "404": ("NotFound", "No such resource."),
    "409": ("Conflict", "A request with the same Idempotency-Key is still in progress."),
    "412": ("PreconditionFailed", "If-Match names a version that is no longer current."),
    "415": ("UnsupportedMediaType", "The body is not application/json."),
    "422": ("ValidationFailed", "Invalid fields, parameters or headers; one entry per field."),
    "503": ("ServiceUnavailable", "A dependency (token revocation list) is unavailable."),
}


@bp.get("/openapi.json")
def document() -> Response:
    return jsonify(openapi_document())


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Content service",
            "version": "1.0.0",
            "description": "User profiles, posts and items. Through the gateway at /api.",
        },
        "tags": [
            {"name": "users", "description": "Profiles, one per auth account (same id)."},
            {"name": "posts", "description": "Posts; the author or an admin changes them."},
            {"name": "items", "description": "Items; the owner or an admin changes them."},
        ],
        "paths": {
            "/api/users": {"get": _list_op("users", "UserPublic", users.SORTABLE, [])},
            "/api/users/{id}": {
                "parameters": [_id_param("user")],
                "get": _get_op("users", "UserPublic"),
                "patch": _write_op(
                    "users", "Update a profile (the user or an admin)", "UserUpdate", "UserPublic"
                ),
            },
            "/api/posts": {
                "get": _list_op(
                    "posts",
                    "PostPublic",
                    posts.SORTABLE,
                    [
                        _query(
                            "author",
                            "Only posts by this username.",
                            {"type": "string", "maxLength": 80},
                        ),
                        _query(
                            "q",
                            "Text in the title or the content.",
                            {"type": "string", "maxLength": 200},
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
                        _query(
                            "q",
                            "Text in the name or the description.",
                            {"type": "string", "maxLength": 200},
                        ),
                        _query(
                            "min_price",
                            "Price at least this (inclusive).",
                            {"type": "number", "minimum": 0},
                        ),
                        _query(
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
        "components": {
            "schemas": _schemas(),
            "responses": {
                name: {
                    "description": description,
                    "content": {"application/problem+json": {"schema": _ref("ProblemDetails")}},
                }
                for name, description in PROBLEMS.values()
            },
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def _schemas() -> dict[str, Any]:
    modes: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (m, "validation") for m in REQUEST_SCHEMAS
    ]
    modes += [(m, "serialization") for m in RESPONSE_SCHEMAS]
    _, top = models_json_schema(modes, ref_template="#/components/schemas/{model}")
    return dict(top.get("$defs", {}))


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _problems(*statuses: str) -> dict[str, Any]:
    return {s: {"$ref": f"#/components/responses/{PROBLEMS[s][0]}"} for s in statuses}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def _header(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }


def _id_param(noun: str) -> dict[str, Any]:
    return {
        "name": "id",
        "in": "path",
        "required": True,
        "description": f"The {noun}'s id.",
        "schema": {"type": "integer", "minimum": 1},
    }


ETAG_HEADER = {
    "ETag": {"description": "The representation's version.", "schema": {"type": "string"}}
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _list_op(
    tag: str, public: str, sortable: tuple[str, ...], filters: list[dict[str, Any]]
) -> dict[str, Any]:
    sorts = [f for field in sortable for f in (field, f"-{field}")]
    return {
        "tags": [tag],
        "summary": f"List {tag}",
        "parameters": [
            _query("page", "Page number, from 1.", {"type": "integer", "minimum": 1, "default": 1}),
            _query(
                "per_page",
                "Page size.",
                {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_PER_PAGE,
                    "default": DEFAULT_PER_PAGE,
                },
            ),
            _query(
                "sort",
                "Sort field; a leading '-' sorts descending.",
                {"type": "string", "enum": sorts, "default": "-created_at"},
            ),
            *filters,
        ],
        "responses": {
            "200": {
                "description": "One page.",
                "headers": {
                    "X-Total-Count": {
                        "description": "Matching rows over all pages.",
                        "schema": {"type": "integer"},
                    },
                    "Link": {
                        "description": "RFC 8288 links: first, prev, next, last.",
                        "schema": {"type": "string"},
                    },
                },
                "content": _json({"type": "array", "items": _ref(public)}),
            },
            **_problems("422"),
        },
    }


def _get_op(tag: str, public: str) -> dict[str, Any]:
    return {
        "tags": [tag],
        "summary": f"Get one of {tag}",
        "parameters": [_header("If-None-Match", "An ETag; an unchanged resource gives 304.")],
        "responses": {
            "200": {
                "description": "The resource.",
                "headers": ETAG_HEADER,
                "content": _json(_ref(public)),
            },
            "304": {"description": "Not modified since the ETag in If-None-Match."},
            **_problems("401", "404"),
        },
    }


def _create_op(tag: str, create: str, public: str) -> dict[str, Any]:
    return {
        "tags": [tag],
        "summary": f"Create one of {tag}",
        "security": [{"bearerAuth": []}],
        "parameters": [
            _header(IDEMPOTENCY_HEADER, "Repeat within 24 h to replay the first answer.")
        ],
        "requestBody": {"required": True, "content": _json(_ref(create))},
        "responses": {
            "201": {
                "description": "Created (or the replay of the first answer to this key).",
                "headers": {
                    **ETAG_HEADER,
                    "Location": {"description": "The new resource.", "schema": {"type": "string"}},
                },
                "content": _json(_ref(public)),
            },
            **_problems("400", "401", "409", "415", "422", "503"),
        },
    }


def _write_op(tag: str, summary: str, body: str, public: str) -> dict[str, Any]:
    return {
        "tags": [tag],
        "summary": summary,
        "security": [{"bearerAuth": []}],
        "parameters": [_header("If-Match", "An ETag; a stale one gives 412 and changes nothing.")],
        "requestBody": {"required": True, "content": _json(_ref(body))},
        "responses": {
            "200": {
                "description": "The changed resource.",
                "headers": ETAG_HEADER,
                "content": _json(_ref(public)),
            },
            **_problems("400", "401", "403", "404", "412", "415", "422", "503"),
        },
    }


def _single(tag: str, noun: str, model: str) -> dict[str, Any]:
    public = f"{model}Public"
    return {
        "parameters": [_id_param(noun)],
        "get": _get_op(tag, public),
        "put": _write_op(tag, f"Replace a {noun} (owner or admin)", f"{model}Create", public),
        "patch": _write_op(
            tag, f"Change some fields of a {noun} (owner or admin)", f"{model}Update", public
        ),
        "delete": {
            "tags": [tag],
            "summary": f"Delete a {noun} (owner or admin)",
            "security": [{"bearerAuth": []}],
            "parameters": [
                _header("If-Match", "An ETag; a stale one gives 412 and deletes nothing.")
            ],
            "responses": {
                "204": {"description": "Deleted."},
                **_problems("401", "403", "404", "412", "503"),
            },
        },
    }
