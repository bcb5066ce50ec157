"""Pieces of the services' OpenAPI 3.1 documents, written once so every document agrees.

The gateway merges the services' documents; components with the same name and content
merge into one, so the problem responses and the bearer scheme come from here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.ids import MAX_ID
from shared.paging import DEFAULT_PER_PAGE, MAX_PAGE, MAX_PER_PAGE
from shared.schemas import ProblemDetails

BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]
SECURITY_SCHEMES = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from POST /auth/login.",
    }
}

# status -> (component name, description), the same in every service's document.
PROBLEMS = {
    "400": ("BadRequest", "The body is not valid JSON."),
    "401": ("Unauthorized", "Missing, invalid, expired or revoked token."),
    "403": ("Forbidden", "Signed in, but not allowed to do this."),
    "404": ("NotFound", "No such resource."),
    "409": ("Conflict", "The request conflicts with the resource's current state."),
    "412": ("PreconditionFailed", "If-Match names a version that is no longer current."),
    "413": ("ContentTooLarge", "The body is larger than MAX_BODY_BYTES."),
    "414": ("URITooLong", "The URL is longer than the HTTP server accepts."),
    "415": ("UnsupportedMediaType", "The body is not application/json."),
    "422": ("ValidationFailed", "Invalid fields, parameters or headers; one entry per field."),
    "429": ("TooManyRequests", "Too many attempts; wait for Retry-After seconds."),
    "503": ("ServiceUnavailable", "A dependency (Redis or the database) is unavailable."),
}
BODY_PROBLEMS = ("400", "413", "415", "422")


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def problems(*statuses: str) -> dict[str, Any]:
    return {s: {"$ref": f"#/components/responses/{PROBLEMS[s][0]}"} for s in statuses}


def problem_components() -> dict[str, Any]:
    return {
        name: {
            "description": description,
            "content": {"application/problem+json": {"schema": ref("ProblemDetails")}},
        }
        for name, description in PROBLEMS.values()
    }


def component_schemas(
    requests: Iterable[type[BaseModel]], responses: Iterable[type[BaseModel]]
) -> dict[str, Any]:
    """JSON Schemas of request bodies (as validated) and answers (as serialized)."""
    modes: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (m, "validation") for m in requests
    ]
    answers: list[type[BaseModel]] = [*responses, ProblemDetails]
    modes += [(m, "serialization") for m in answers]
    _, top = models_json_schema(modes, ref_template="#/components/schemas/{model}")
    return dict(top.get("$defs", {}))


def query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def header(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string", "maxLength": 1024},
    }


def id_param(name: str, noun: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": f"The {noun}'s id.",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    }


def paging_parameters(sortable: Iterable[str], default_sort: str) -> list[dict[str, Any]]:
    sorts = [f for field in sortable for f in (field, f"-{field}")]
    return [
        query(
            "page",
            "Page number, from 1.",
            {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
        ),
        query(
            "per_page",
            "Page size.",
            {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": DEFAULT_PER_PAGE},
        ),
        query(
            "sort",
            "Sort field; a leading '-' sorts descending.",
            {"type": "string", "enum": sorts, "default": default_sort},
        ),
    ]


LIST_HEADERS = {
    "X-Total-Count": {
        "description": "Matching rows over all pages.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "Link": {
        "description": "RFC 8288 links: first, prev, next, last.",
        "schema": {"type": "string"},
    },
}
ETAG_HEADER = {
    "ETag": {"description": "The representation's version.", "schema": {"type": "string"}}
}
IF_NONE_MATCH = header("If-None-Match", "An ETag; an unchanged resource gives 304.")
NOT_MODIFIED = {
    "description": "Not modified since the ETag in If-None-Match.",
    "headers": ETAG_HEADER,
}


def if_match(effect: str) -> dict[str, Any]:
    return header("If-Match", f"An ETag; a stale one gives 412 and {effect}.")


def base_components(schemas: dict[str, Any]) -> dict[str, Any]:
    return {
        "schemas": schemas,
        "responses": problem_components(),
        "securitySchemes": SECURITY_SCHEMES,
    }
