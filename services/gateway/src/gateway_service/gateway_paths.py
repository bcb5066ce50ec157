"""The OpenAPI description of the gateway's own paths, and of what the gateway itself answers
on every path it forwards (merged with the services' documents)."""

from __future__ import annotations

import copy
from typing import Any

from shared.openapi import (
    BEARER,
    PUBLIC,
    base_components,
    component_schemas,
    json_content,
    problems,
)

_STATUS = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "maxLength": 40},
        # readiness: each dependency's state, by name
        "checks": {
            "type": "object",
            "additionalProperties": {"type": "string", "maxLength": 200},
        },
    },
    "additionalProperties": {"type": "string", "maxLength": 200},
}
RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": {"$ref": "#/components/headers/RateLimit-Limit"},
    "RateLimit-Remaining": {"$ref": "#/components/headers/RateLimit-Remaining"},
    "RateLimit-Reset": {"$ref": "#/components/headers/RateLimit-Reset"},
}
_SECONDS = {"type": "integer", "minimum": 0, "maximum": 86400}
# A count of requests: any RATE_LIMIT an operator sets (e.g. "100000/minute"), not a time.
_REQUESTS = {"type": "integer", "minimum": 0, "maximum": 2_147_483_647}


def _ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": json_content(schema)}


def _operation(operation_id: str, summary: str, responses: dict[str, Any], **extra: Any) -> Any:
    return {
        "operationId": operation_id,
        "tags": ["gateway"],
        "summary": summary,
        "security": PUBLIC,
        **extra,
        "responses": dict(sorted({**problems("414"), **responses}.items())),
    }


GATEWAY_PATHS: dict[str, Any] = {
    "/healthz": {
        "get": _operation(
            "getLiveness",
            "Liveness: 200 while the gateway process lives",
            {"200": _ok("Alive.", _STATUS), "429": {"$ref": "#/components/responses/RateLimited"}},
        )
    },
    "/readyz": {
        "get": _operation(
            "getReadiness",
            "Readiness: 200 when auth and content are ready, else 503 naming them",
            {
                "200": _ok("Ready.", _STATUS),
                "429": {"$ref": "#/components/responses/RateLimited"},
                "503": _ok("Not ready: each part that is not, named.", _STATUS),
            },
        )
    },
    "/me": {
        "get": _operation(
            "getMyOverview",
            "The signed-in user's account, profile and five latest posts",
            {
                "200": _ok(
                    "The composite view.",
                    {
                        "type": "object",
                        "required": ["account", "profile", "posts", "degraded"],
                        "properties": {
                            "account": {
                                "oneOf": [
                                    {"$ref": "#/components/schemas/AccountPublic"},
                                    {"type": "null"},
                                ]
                            },
                            "profile": {
                                "oneOf": [
                                    {"$ref": "#/components/schemas/UserPublic"},
                                    {"type": "null"},
                                ]
                            },
                            "posts": {
                                "oneOf": [
                                    {
                                        "type": "array",
                                        "maxItems": 5,
                                        "items": {"$ref": "#/components/schemas/PostPublic"},
                                    },
                                    {"type": "null"},
                                ]
                            },
                            "degraded": {
                                "type": "array",
                                "maxItems": 2,
                                "items": {"type": "string", "enum": ["auth", "content"]},
                            },
                        },
                    },
                ),
                **problems("401", "503"),
                "429": {"$ref": "#/components/responses/RateLimited"},
            },
            description="Fetched concurrently from auth and content. When a service does "
            "not answer, its parts are null and it is listed in `degraded`. The access cookie "
            "is accepted in place of the bearer token.",
            security=BEARER,
        )
    },
    "/openapi.json": {
        "get": _operation(
            "getOpenApiDocument",
            "This document",
            {
                "200": _ok("OpenAPI 3.1.", {"type": "object"}),
                "429": {"$ref": "#/components/responses/RateLimited"},
            },
        )
    },
    "/docs/": {
        "get": _operation(
            "getApiDocs",
            "Interactive API documentation (Swagger UI, served locally)",
            {
                "200": {
                    "description": "The HTML page.",
                    "content": {"text/html": {"schema": {"type": "string"}}},
                },
                "429": {"$ref": "#/components/responses/RateLimited"},
            },
        )
    },
}

GATEWAY_COMPONENTS: dict[str, Any] = base_components(component_schemas([], []))
GATEWAY_COMPONENTS["headers"] = {
    "RateLimit-Limit": {"description": "Requests allowed in the window.", "schema": _REQUESTS},
    "RateLimit-Remaining": {"description": "Requests left in the window.", "schema": _REQUESTS},
    "RateLimit-Reset": {"description": "Seconds until the window ends.", "schema": _SECONDS},
    "Retry-After": {"description": "Seconds to wait before trying again.", "schema": _SECONDS},
}
GATEWAY_COMPONENTS["responses"].update(
    {
        "RateLimited": {
            "description": "Over the rate limit (RATE_LIMIT, per user or address).",
            "headers": {
                **RATE_LIMIT_HEADERS,
                "Retry-After": {"$ref": "#/components/headers/Retry-After"},
            },
            "content": {
                "application/problem+json": {
                    "schema": {"$ref": "#/components/schemas/ProblemDetails"}
                }
            },
        },
        "MalformedRequest": {
            "description": "Refused at the edge before routing: a path with control "
            "characters, dot segments or encoded slashes, or a body whose framing is broken.",
            "content": {
                "application/problem+json": {
                    "schema": {"$ref": "#/components/schemas/ProblemDetails"}
                }
            },
        },
        "BadGateway": {
            "description": "The service answered nothing usable.",
            "content": {
                "application/problem+json": {
                    "schema": {"$ref": "#/components/schemas/ProblemDetails"}
                }
            },
        },
        "GatewayTimeout": {
            "description": "The service did not answer within UPSTREAM_READ_TIMEOUT.",
            "content": {
                "application/problem+json": {
                    "schema": {"$ref": "#/components/schemas/ProblemDetails"}
                }
            },
        },
    }
)
# What the gateway itself can answer on any path it forwards, before or instead of a service.
EDGE_ANSWERS: dict[str, Any] = {
    "400": {"$ref": "#/components/responses/MalformedRequest"},
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "414": {"$ref": "#/components/responses/URITooLong"},
    "429": {"$ref": "#/components/responses/RateLimited"},
    "502": {"$ref": "#/components/responses/BadGateway"},
    "503": {"$ref": "#/components/responses/ServiceUnavailable"},
    "504": {"$ref": "#/components/responses/GatewayTimeout"},
}
BODY_EDGE_ANSWERS: dict[str, Any] = {"413": {"$ref": "#/components/responses/ContentTooLarge"}}


def with_edge_answers(operation: dict[str, Any]) -> dict[str, Any]:
    """A forwarded operation as the gateway answers it: its own statuses added, and the
    rate-limit headers on every answer the service gives."""
    operation = copy.deepcopy(operation)
    responses = operation.setdefault("responses", {})
    for status, response in responses.items():
        if "$ref" not in response and status[0] in "23":
            response["headers"] = {**RATE_LIMIT_HEADERS, **response.get("headers", {})}
    extra = {**EDGE_ANSWERS, **(BODY_EDGE_ANSWERS if "requestBody" in operation else {})}
    # The service's own description of a status (e.g. auth's 429) is kept where it has one.
    operation["responses"] = dict(sorted({**extra, **responses}.items()))
    return operation
