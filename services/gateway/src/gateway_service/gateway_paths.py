"""The OpenAPI description of the gateway's own paths (merged with the services' documents)."""

from __future__ import annotations

from typing import Any

PROBLEM_REF = {"$ref": "#/components/schemas/GatewayProblem"}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": PROBLEM_REF}},
    }


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_STATUS = {"type": "object", "properties": {"status": {"type": "string"}}}

GATEWAY_PATHS: dict[str, Any] = {
    "/healthz": {
        "get": {
            "tags": ["gateway"],
            "summary": "Liveness: 200 while the gateway process lives",
            "responses": {"200": _json("alive", _STATUS)},
        }
    },
    "/readyz": {
        "get": {
            "tags": ["gateway"],
            "summary": "Readiness: 200 when auth and content are ready, else 503 naming them",
            "responses": {
                "200": _json("ready", _STATUS),
                "503": _json("not ready", _STATUS),
            },
        }
    },
    "/me": {
        "get": {
            "tags": ["gateway"],
            "summary": "The signed-in user's account, profile and five latest posts",
            "description": "Fetched concurrently from auth and content. When a service does "
            "not answer, its parts are null and it is listed in `degraded`.",
            "security": [{"gatewayBearer": []}],
            "responses": {
                "200": _json(
                    "the composite view",
                    {
                        "type": "object",
                        "required": ["account", "profile", "posts", "degraded"],
                        "properties": {
                            "account": {"type": ["object", "null"]},
                            "profile": {"type": ["object", "null"]},
                            "posts": {"type": ["array", "null"], "items": {"type": "object"}},
                            "degraded": {
                                "type": "array",
                                "items": {"type": "string", "enum": ["auth", "content"]},
                            },
                        },
                    },
                ),
                "401": _problem("missing, invalid or revoked token"),
                "429": _problem("rate limited"),
            },
        }
    },
    "/openapi.json": {
        "get": {
            "tags": ["gateway"],
            "summary": "This document",
            "responses": {"200": _json("OpenAPI 3.1", {"type": "object"})},
        }
    },
    "/docs/": {
        "get": {
            "tags": ["gateway"],
            "summary": "Interactive API documentation (Swagger UI, served locally)",
            "responses": {"200": {"description": "HTML page"}},
        }
    },
}

GATEWAY_COMPONENTS: dict[str, Any] = {
    "schemas": {
        "GatewayProblem": {
            "type": "object",
            "description": "RFC 9457 problem details, with the request id.",
            "required": ["type", "title", "status", "detail", "instance", "request_id"],
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "instance": {"type": ["string", "null"]},
                "request_id": {"type": ["string", "null"]},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "field": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    },
                },
            },
        }
    },
    "securitySchemes": {
        "gatewayBearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    },
}
