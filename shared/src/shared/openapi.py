"""Pieces of the services' OpenAPI 3.1 documents, written once so every document agrees.

The gateway merges the services' documents; components with the same name and content
merge into one, so the problem responses and the bearer scheme come from here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.conditional import MAX_CONDITION_LENGTH
from shared.ids import MAX_ID
from shared.paging import DEFAULT_PER_PAGE, MAX_PAGE, MAX_PER_PAGE
from shared.schemas import ProblemDetails

BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]
PUBLIC: list[dict[str, list[str]]] = []  # an operation anyone may call, with no token at all
SERVERS = [
    {
        "url": "/",
        "description": "The gateway of this deployment (local, staging or production)",
        "x-internal": False,
    }
]
CONTACT = {"name": "The suite's maintainers", "url": "https://example.com/flask-service-suite"}
LICENSE = {"name": "Proprietary: the suite's owners' terms", "identifier": "LicenseRef-Proprietary"}
SECURITY_SCHEMES = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from POST /auth/login: RS256, `kid`, `typ: at+jwt`, "
        "audience and issuer checked, as RFC8725 (JWT best practices) asks.",
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
    "500": ("InternalError", "Unexpected; the answer names the request id to quote."),
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
CONDITION_SCHEMA = {"type": "string", "maxLength": MAX_CONDITION_LENGTH}
IF_NONE_MATCH = header(
    "If-None-Match", "An ETag; an unchanged resource gives 304.", CONDITION_SCHEMA
)
NOT_MODIFIED = {
    "description": "Not modified since the ETag in If-None-Match.",
    "headers": ETAG_HEADER,
}


def if_match(effect: str) -> dict[str, Any]:
    return header("If-Match", f"An ETag; a stale one gives 412 and {effect}.", CONDITION_SCHEMA)


def base_components(schemas: dict[str, Any]) -> dict[str, Any]:
    return {
        "schemas": schemas,
        "responses": problem_components(),
        "securitySchemes": SECURITY_SCHEMES,
    }


OPERATIONS = ("get", "put", "post", "patch", "delete")


def operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        operation
        for item in document["paths"].values()
        for method, operation in item.items()
        if method in OPERATIONS
    ]


def finish(document: dict[str, Any]) -> dict[str, Any]:
    """What every operation of every service can answer, and no component left unused.

    Any request line longer than the HTTP server's limit is a 414, and anything unexpected a
    500 problem naming the request id, whatever the path. Every integer is a 64-bit one.
    """
    document["info"].setdefault("contact", CONTACT)
    for operation in operations(document):
        everywhere = problems("414", "500")
        operation["responses"] = dict(sorted({**everywhere, **operation["responses"]}.items()))
    _int64(document)
    text = str(document["paths"])
    responses = document["components"].get("responses", {})
    for name in list(responses):
        if f"#/components/responses/{name}'" not in text:
            del responses[name]
    return document


def _int64(node: Any) -> None:
    """Every integer here is a 64-bit one (the database's BIGINT or less): say so."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            node.setdefault("format", "int64")
            node.setdefault("maximum", MAX_ID)
            node.setdefault("minimum", 0)
        for value in node.values():
            _int64(value)
    elif isinstance(node, list):
        for value in node:
            _int64(value)
