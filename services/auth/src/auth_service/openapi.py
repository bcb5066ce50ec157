"""Auth's OpenAPI 3.1 document, served at /openapi.json (the gateway merges it)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from auth_service.passwords import MAX_LENGTH, MIN_LENGTH
from auth_service.web.openapi import HOSTED_PAGES

bp = Blueprint("openapi", __name__)

BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]
PASSWORD = {"type": "string", "minLength": MIN_LENGTH, "maxLength": MAX_LENGTH}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": _ref("Problem")}},
    }


def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


NO_CONTENT = {"description": "Done"}
UNAUTHORIZED = _problem("Missing, invalid, expired or revoked token")
UNAVAILABLE = _problem("Redis cannot be reached: authenticated requests fail closed")
INVALID = _problem("Invalid fields")
FORBIDDEN = _problem("Not an administrator")
NOT_FOUND = _problem("No such account")
PAGING = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}},
    {
        "name": "per_page",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
    },
    {
        "name": "sort",
        "in": "query",
        "schema": {
            "type": "string",
            "enum": ["id", "-id", "username", "-username", "created_at", "-created_at"],
        },
    },
]
ACCOUNT_ID = [{"name": "account_id", "in": "path", "required": True, "schema": {"type": "integer"}}]

SCHEMAS: dict[str, Any] = {
    "Account": {
        "type": "object",
        "required": ["id", "username", "email", "roles", "created_at"],
        "properties": {
            "id": {"type": "integer"},
            "username": {"type": "string"},
            "email": {"type": "string", "format": "email"},
            "roles": {"type": "array", "items": {"type": "string"}},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "AdminAccount": {
        "allOf": [
            _ref("Account"),
            {"type": "object", "properties": {"disabled": {"type": "boolean"}}},
        ]
    },
    "Register": {
        "type": "object",
        "additionalProperties": False,
        "required": ["username", "email", "password"],
        "properties": {
            "username": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{3,80}$"},
            "email": {"type": "string", "format": "email", "maxLength": 254},
            "password": {**PASSWORD, "description": "Not among the 20,000 most common"},
        },
    },
    "Login": {
        "type": "object",
        "required": ["username", "password"],
        "properties": {
            "username": {
                "type": "string",
                "minLength": 1,
                "description": "The username or the email",
            },
            "password": {"type": "string", "minLength": 1},
        },
    },
    "TokenPair": {
        "type": "object",
        "required": ["access_token", "refresh_token", "token_type", "expires_in"],
        "properties": {
            "access_token": {"type": "string"},
            "refresh_token": {"type": "string"},
            "token_type": {"const": "Bearer"},
            "expires_in": {"type": "integer", "description": "Access token lifetime, seconds"},
        },
    },
    "PasswordChange": {
        "type": "object",
        "additionalProperties": False,
        "required": ["current_password", "new_password"],
        "properties": {
            "current_password": {"type": "string", "minLength": 1},
            "new_password": PASSWORD,
        },
    },
    "AccountDeletion": {
        "type": "object",
        "additionalProperties": False,
        "required": ["password"],
        "properties": {"password": {"type": "string", "minLength": 1}},
    },
    "AccountUpdate": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "roles": {
                "type": "array",
                "maxItems": 20,
                "items": {"type": "string", "pattern": "^[a-z][a-z0-9_-]{0,39}$"},
            },
            "disabled": {"type": "boolean"},
        },
    },
    "JsonWebKeySet": {
        "type": "object",
        "required": ["keys"],
        "properties": {"keys": {"type": "array", "items": {"type": "object"}}},
    },
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
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
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
    },
}

PATHS: dict[str, Any] = {
    "/auth/register": {
        "post": {
            "summary": "Create an account",
            "tags": ["auth"],
            "requestBody": _body("Register"),
            "responses": {
                "201": _json(_ref("Account"), "Created"),
                "409": _problem("Email taken, or a username differing only in case"),
                "422": INVALID,
            },
        }
    },
    "/auth/login": {
        "post": {
            "summary": "Exchange a username (or email) and password for a token pair",
            "tags": ["auth"],
            "requestBody": _body("Login"),
            "responses": {
                "200": _json(_ref("TokenPair")),
                "401": _problem("Unknown user or wrong password (the same answer for both)"),
                "422": INVALID,
                "429": _problem("Too many failures for this account or address; see Retry-After"),
                "503": _problem("Redis cannot be reached, so throttling cannot be checked"),
            },
        }
    },
    "/auth/refresh": {
        "post": {
            "summary": "Exchange the refresh token (as bearer) for a new pair",
            "description": "The presented token is retired. Presenting a retired token again "
            "ends the whole login session.",
            "tags": ["auth"],
            "security": BEARER,
            "responses": {
                "200": _json(_ref("TokenPair")),
                "401": UNAUTHORIZED,
                "503": UNAVAILABLE,
            },
        }
    },
    "/auth/logout": {
        "post": {
            "summary": "End this login session everywhere",
            "tags": ["auth"],
            "security": BEARER,
            "responses": {"204": NO_CONTENT, "401": UNAUTHORIZED, "503": UNAVAILABLE},
        }
    },
    "/auth/me": {
        "get": {
            "summary": "Your account",
            "tags": ["auth"],
            "security": BEARER,
            "responses": {
                "200": _json(_ref("Account")),
                "304": {"description": "Not modified (If-None-Match)"},
                "401": UNAUTHORIZED,
                "503": UNAVAILABLE,
            },
        },
        "delete": {
            "summary": "Delete your account (and, in content, its profile, posts and items)",
            "tags": ["auth"],
            "security": BEARER,
            "requestBody": _body("AccountDeletion"),
            "responses": {
                "204": NO_CONTENT,
                "401": _problem("Invalid token or wrong password"),
                "422": INVALID,
                "429": _problem("Too many wrong passwords"),
            },
        },
    },
    "/auth/me/password": {
        "put": {
            "summary": "Change your password; every other session is signed out",
            "tags": ["auth"],
            "security": BEARER,
            "requestBody": _body("PasswordChange"),
            "responses": {
                "204": NO_CONTENT,
                "401": _problem("Invalid token or wrong current password"),
                "422": INVALID,
                "429": _problem("Too many wrong passwords"),
            },
        }
    },
    "/auth/.well-known/jwks.json": {
        "get": {
            "summary": "Public keys of every key that signed a still-valid token (RFC 7517)",
            "tags": ["auth"],
            "responses": {"200": _json(_ref("JsonWebKeySet"))},
        }
    },
    "/auth/accounts": {
        "get": {
            "summary": "List accounts (admin)",
            "tags": ["admin"],
            "security": BEARER,
            "parameters": PAGING,
            "responses": {
                "200": _json({"type": "array", "items": _ref("AdminAccount")}),
                "401": UNAUTHORIZED,
                "403": FORBIDDEN,
                "422": INVALID,
            },
        }
    },
    "/auth/accounts/{account_id}": {
        "get": {
            "summary": "One account (admin)",
            "tags": ["admin"],
            "security": BEARER,
            "parameters": ACCOUNT_ID,
            "responses": {
                "200": _json(_ref("AdminAccount")),
                "401": UNAUTHORIZED,
                "403": FORBIDDEN,
                "404": NOT_FOUND,
            },
        },
        "patch": {
            "summary": "Change roles or the disabled flag (admin); revokes the account's tokens",
            "tags": ["admin"],
            "security": BEARER,
            "parameters": ACCOUNT_ID,
            "requestBody": _body("AccountUpdate"),
            "responses": {
                "200": _json(_ref("AdminAccount")),
                "401": UNAUTHORIZED,
                "403": FORBIDDEN,
                "404": NOT_FOUND,
                "412": _problem("If-Match does not match the current ETag"),
                "422": INVALID,
            },
        },
    },
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Auth service",
        "version": "1.0.0",
        "description": "Accounts, login sessions, access/refresh JWTs (RS256) and the JWKS.",
    },
    "paths": {**PATHS, **HOSTED_PAGES},
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        },
    },
}


BODY_PROBLEMS = {
    "400": _problem("The body is not valid JSON"),
    "413": _problem("The body is larger than MAX_BODY_BYTES"),
    "415": _problem("The body is not application/json"),
}
# Every operation that reads a JSON body can refuse it before looking inside.
for _operations in PATHS.values():
    for _operation in _operations.values():
        if isinstance(_operation, dict) and "requestBody" in _operation:
            _operation["responses"] = {**BODY_PROBLEMS, **_operation["responses"]}


@bp.get("/openapi.json")
def document() -> Response:
    return jsonify(DOCUMENT)
