"""The OAuth 2.1 / OpenID Connect endpoints and client registration in auth's OpenAPI document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from auth_service.oauth_schemas import (
    GRANT_TYPES,
    MAX_CLIENTS,
    ClientCreated,
    ClientPublic,
    ClientRegistration,
    Introspection,
    OAuthError,
    ServerMetadata,
    TokenResponse,
    UserInfo,
)
from shared.openapi import BEARER, BODY_PROBLEMS, json_content, problems, ref

REQUEST_SCHEMAS: tuple[type[BaseModel], ...] = (ClientRegistration,)
RESPONSE_SCHEMAS: tuple[type[BaseModel], ...] = (
    ClientPublic,
    ClientCreated,
    TokenResponse,
    OAuthError,
    ServerMetadata,
    Introspection,
    UserInfo,
)
TAGS = [
    {
        "name": "oauth",
        "description": "OAuth 2.1 / OpenID Connect for other apps: discovery, authorization "
        "code with PKCE, the token endpoint, userinfo, revocation, introspection.",
    }
]
# client_secret_basic, or the client's id (and secret) in the form
CLIENT_AUTH: list[dict[str, list[str]]] = [{"clientBasic": []}, {}]
SECURITY_SCHEMES = {
    "clientBasic": {
        "type": "http",
        "scheme": "basic",
        "description": "client_secret_basic: the client id and secret (RFC 6749 2.3.1).",
    }
}
NO_STORE = {"Cache-Control": {"description": "no-store", "schema": {"type": "string"}}}


def _form(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "required": required}
    return {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema}}}


def _oauth_errors(*statuses: str) -> dict[str, Any]:
    """RFC 6749 5.2 errors: `application/json`, whose body is also a problem document."""
    described = {
        "400": "An RFC 6749 error (`error`, `error_description`), as `application/json`; "
        "the body also holds the problem members.",
        "401": "invalid_client: unknown client or wrong secret; `WWW-Authenticate: Basic`.",
    }
    challenge = {
        "WWW-Authenticate": {
            "description": "The client authentication scheme (RFC 6749 5.2).",
            "schema": {"type": "string", "maxLength": 500},
        }
    }
    return {
        status: {
            "description": described[status],
            **({"headers": challenge} if status == "401" else {}),
            "content": {"application/json": {"schema": ref("OAuthError")}},
        }
        for status in statuses
    }


STRING = {"type": "string", "maxLength": 2000}
# Ids as registration makes them (token_urlsafe), within the column's 64 characters; never a
# dot segment or a control character, which the gateway refuses before routing.
CLIENT_ID = {"type": "string", "pattern": "^[A-Za-z0-9_-][A-Za-z0-9._~-]{0,63}$"}
CLIENT_FIELDS = {"client_id": STRING, "client_secret": STRING}
TOKEN_FIELDS = {"token": STRING, "token_type_hint": {"enum": ["access_token", "refresh_token"]}}


def _operation(
    operation_id: str, summary: str, responses: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "tags": ["oauth"],
        "summary": summary,
        **extra,
        "responses": dict(sorted(responses.items())),
    }


def _query(name: str, description: str, required: bool = False, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema or STRING,
    }


METADATA = _operation(
    "getServerMetadata",
    "Server metadata (RFC 8414, OpenID Connect Discovery 1.0)",
    {"200": {"description": "The metadata.", "content": json_content(ref("ServerMetadata"))}},
    security=[],
)

PATHS: dict[str, Any] = {
    "/auth/.well-known/openid-configuration": {
        "get": {**METADATA, "operationId": "getOpenIdConfiguration"}
    },
    "/auth/.well-known/oauth-authorization-server": {"get": METADATA},
    "/auth/authorize": {
        "get": _operation(
            "authorize",
            "Authorization code + PKCE (S256): log in on the hosted page, consent, go back",
            {
                "200": {
                    "description": "The consent page (HTML).",
                    "content": {"text/html": {"schema": {"type": "string"}}},
                },
                "302": {
                    "description": "To the login page; or to the registered redirect URI with "
                    "`code` and `state`, or `error` and `state`.",
                },
                **problems("400", "503"),
            },
            security=[],
            parameters=[
                _query("response_type", "Only `code`.", True, enum=["code"]),
                _query("client_id", "A registered client.", True),
                _query("redirect_uri", "Exactly one of the client's registered URIs."),
                _query("scope", "Space-separated; `openid` for an ID token."),
                _query("state", "Returned as sent."),
                _query("nonce", "Put in the ID token as sent."),
                _query("code_challenge", "BASE64URL(SHA-256(code_verifier)).", True),
                _query("code_challenge_method", "Only `S256`.", True, enum=["S256"]),
            ],
        ),
        "post": _operation(
            "authorizeConsent",
            "The consent page's answer (allow or deny), with the same query",
            {
                "200": {"description": "The consent page again (a refused form)."},
                "302": {"description": "To the redirect URI with a code, or access_denied."},
                **problems("400", "503"),
            },
            security=[],
            requestBody={
                "required": False,
                "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}},
            },
        ),
    },
    "/auth/token": {
        "post": _operation(
            "token",
            "The token endpoint (RFC 6749 3.2): form-encoded grants, JSON tokens",
            {
                "200": {
                    "description": "Tokens.",
                    "headers": NO_STORE,
                    "content": json_content(ref("TokenResponse")),
                },
                **_oauth_errors("400", "401"),
                **problems("429", "503"),
            },
            security=CLIENT_AUTH,
            requestBody=_form(
                {
                    "grant_type": {"enum": list(GRANT_TYPES)},
                    "code": STRING,
                    "redirect_uri": STRING,
                    "code_verifier": STRING,
                    "refresh_token": STRING,
                    "scope": STRING,
                    "username": STRING,
                    "password": STRING,
                    **CLIENT_FIELDS,
                },
                ["grant_type"],
            ),
            description="`password` is served only to first-party clients, and only where "
            "OAUTH_PASSWORD_GRANT is on (off by default in production).",
        )
    },
    "/auth/revoke": {
        "post": _operation(
            "revokeToken",
            "Revoke an access or refresh token (RFC 7009); a refresh token ends its session",
            {
                "200": {"description": "Revoked (or it was not a valid token)."},
                **_oauth_errors("400", "401"),
                **problems("503"),
            },
            security=CLIENT_AUTH,
            requestBody=_form({**TOKEN_FIELDS, **CLIENT_FIELDS}, ["token"]),
        )
    },
    "/auth/introspect": {
        "post": _operation(
            "introspectToken",
            "Is this token active, and what does it say (RFC 7662; confidential clients)",
            {
                "200": {
                    "description": "The answer.",
                    "content": json_content(ref("Introspection")),
                },
                **_oauth_errors("400", "401"),
                **problems("503"),
            },
            security=[{"clientBasic": []}],
            requestBody=_form({**TOKEN_FIELDS, **CLIENT_FIELDS}, ["token"]),
        )
    },
    "/auth/userinfo": {
        method: _operation(
            f"userinfo{method.capitalize()}",
            "Claims about the token's user (OIDC Core 5.3; needs the openid scope)",
            {
                "200": {"description": "The claims.", "content": json_content(ref("UserInfo"))},
                **problems("401", "403", "503"),
            },
            security=BEARER,
        )
        for method in ("get", "post")
    },
    "/auth/clients": {
        "get": _operation(
            "listClients",
            "Registered OAuth clients (admin)",
            {
                "200": {
                    "description": f"Every client, oldest first (at most {MAX_CLIENTS}).",
                    "content": json_content(
                        {"type": "array", "items": ref("ClientPublic"), "maxItems": MAX_CLIENTS}
                    ),
                },
                **problems("401", "403", "503"),
            },
            security=BEARER,
            tags=["admin"],
        ),
        "post": _operation(
            "registerClient",
            "Register an OAuth client (admin); a confidential one's secret is shown once",
            {
                "201": {
                    "description": "Registered.",
                    "content": json_content(ref("ClientCreated")),
                    "headers": {"Location": {"schema": {"type": "string"}}},
                },
                **problems(*BODY_PROBLEMS, "401", "403", "503"),
            },
            security=BEARER,
            tags=["admin"],
            requestBody={"required": True, "content": json_content(ref("ClientRegistration"))},
        ),
    },
    "/auth/clients/{client_id}": {
        "parameters": [
            {"name": "client_id", "in": "path", "required": True, "schema": CLIENT_ID},
        ],
        "get": _operation(
            "getClient",
            "One OAuth client (admin)",
            {
                "200": {"description": "The client.", "content": json_content(ref("ClientPublic"))},
                **problems("401", "403", "404", "503"),
            },
            security=BEARER,
            tags=["admin"],
        ),
        "delete": _operation(
            "deleteClient",
            "Remove an OAuth client (admin)",
            {"204": {"description": "Removed."}, **problems("401", "403", "404", "503")},
            security=BEARER,
            tags=["admin"],
        ),
    },
}
