"""Auth's OpenAPI 3.1 document, built from the same pydantic schemas that validate requests."""

from __future__ import annotations

import copy
from typing import Any

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel

from auth_service import admin, oauth_openapi
from auth_service.schemas import (
    AccountDeletion,
    AccountPublic,
    AccountUpdate,
    AdminAccount,
    EmailChange,
    JsonWebKeySet,
    Login,
    MailedToken,
    PasswordChange,
    PasswordForgotten,
    PasswordReset,
    Register,
    SecondFactor,
    TokenPair,
    TotpCode,
    TotpRemoval,
)
from auth_service.totp import RECOVERY_CODES
from auth_service.web.openapi import HOSTED_PAGES
from shared.openapi import (
    BEARER,
    BODY_PROBLEMS,
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
    ref,
)

bp = Blueprint("openapi", __name__)

REQUEST_SCHEMAS: tuple[type[BaseModel], ...] = (
    Register,
    Login,
    PasswordChange,
    AccountDeletion,
    AccountUpdate,
    MailedToken,
    PasswordForgotten,
    PasswordReset,
    EmailChange,
    SecondFactor,
    TotpCode,
    TotpRemoval,
)
RESPONSE_SCHEMAS: tuple[type[BaseModel], ...] = (
    AccountPublic,
    AdminAccount,
    TokenPair,
    JsonWebKeySet,
)
TAGS = [
    {"name": "auth", "description": "Accounts, login sessions, tokens and the key set."},
    {"name": "admin", "description": "Account administration (the admin role)."},
    {"name": "hosted pages", "description": "HTML pages for people: register, log in, ..."},
]


def _ok(description: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": json_content(schema), **extra}


def _operation(
    operation_id: str,
    summary: str,
    responses: dict[str, Any],
    *,
    security: list[dict[str, list[str]]] = BEARER,
    body: str | None = None,
    tag: str = "auth",
    **extra: Any,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "tags": [tag],
        "summary": summary,
        "security": security,
        **extra,
    }
    if body:
        operation["requestBody"] = {"required": True, "content": json_content(ref(body))}
        responses = {**problems(*BODY_PROBLEMS), **responses}
    operation["responses"] = dict(sorted(responses.items()))
    return operation


PATHS: dict[str, Any] = {
    "/auth/register": {
        "post": _operation(
            "register",
            "Create an account",
            {
                "201": _ok(
                    "Created",
                    ref("AccountPublic"),
                    headers={
                        "Location": {
                            "description": "Where the new account is read: /auth/me.",
                            "schema": {"type": "string"},
                        }
                    },
                ),
                **problems("409"),
            },
            security=PUBLIC,
            body="Register",
        )
    },
    "/auth/login": {
        "post": _operation(
            "login",
            "Exchange a username (or verified email) and password for a token pair",
            {
                "200": _ok("A new login session's tokens.", ref("TokenPair")),
                **problems("401", "429", "503"),
            },
            security=PUBLIC,
            body="Login",
        )
    },
    "/auth/refresh": {
        "post": _operation(
            "refreshTokens",
            "Exchange the refresh token (as bearer) for a new pair",
            {"200": _ok("The new pair.", ref("TokenPair")), **problems("401", "503")},
            description="The presented token is retired. Presenting a retired token again "
            "ends the whole login session.",
        )
    },
    "/auth/logout": {
        "post": _operation(
            "logout",
            "End this login session everywhere",
            {"204": {"description": "Done."}, **problems("401", "503")},
        )
    },
    "/auth/me": {
        "get": _operation(
            "getMe",
            "Your account",
            {
                "200": _ok("Your account.", ref("AccountPublic"), headers=ETAG_HEADER),
                "304": NOT_MODIFIED,
                **problems("401", "422", "503"),
            },
            parameters=[IF_NONE_MATCH],
        ),
        "delete": _operation(
            "deleteMe",
            "Delete your account (and, in content, its profile, posts and items)",
            {"204": {"description": "Deleted."}, **problems("401", "429", "503")},
            body="AccountDeletion",
        ),
    },
    "/auth/me/password": {
        "put": _operation(
            "changePassword",
            "Change your password; every other session is signed out",
            {"204": {"description": "Changed."}, **problems("401", "429", "503")},
            body="PasswordChange",
        )
    },
    "/auth/email/verify": {
        "post": _operation(
            "verifyEmail",
            "Confirm an e-mail address with the token from the link we mailed",
            {"200": _ok("The account, now verified.", ref("AccountPublic")), **problems("409")},
            security=PUBLIC,
            body="MailedToken",
            description="Takes the link of a registration (marks the address verified) or of "
            "an address change (moves the account to the new address). Each link works once, "
            "within EMAIL_TOKEN_MINUTES, and not after a newer one or a password change; "
            "otherwise 422 on `token`.",
        )
    },
    "/auth/email/verify/resend": {
        "post": _operation(
            "resendVerification",
            "Mail a new verification link (earlier ones stop working)",
            {
                "202": {"description": "A link is on its way."},
                **problems("401", "409", "429", "503"),
            },
        )
    },
    "/auth/me/email": {
        "put": _operation(
            "changeEmail",
            "Move your account to a new e-mail address, once confirmed there",
            {
                "202": {"description": "A link is on its way to the new address."},
                **problems("401", "429", "503"),
            },
            body="EmailChange",
            description="The new address gets a link (POST /auth/email/verify takes it) and "
            "the current one a notice; the account keeps its address until the link is "
            "opened. An address of another account gets the same answer and no link.",
        )
    },
    "/auth/login/totp": {
        "post": _operation(
            "loginSecondFactor",
            "Finish a two-factor login with a TOTP or recovery code",
            {
                "200": _ok("The login session's tokens; `amr` is [pwd, otp].", ref("TokenPair")),
                **problems("401", "429", "503"),
            },
            security=PUBLIC,
            body="SecondFactor",
            description="For an account with two-factor login on, POST /auth/login answers "
            "`{mfa_required: true, mfa_token, mfa_methods, expires_in}` instead of tokens. "
            "Codes of the current 30-second step and one either side are taken, each once; "
            "wrong codes are throttled like wrong passwords.",
        )
    },
    "/auth/me/totp": {
        "get": _operation(
            "getTotpStatus",
            "Whether two-factor login is on",
            {
                "200": _ok(
                    "The status.",
                    {"type": "object", "properties": {"enabled": {"type": "boolean"}}},
                ),
                **problems("401", "503"),
            },
        ),
        "post": _operation(
            "beginTotpEnrolment",
            "Make a new TOTP secret (on once confirmed)",
            {
                "200": _ok(
                    "The secret and its otpauth:// URI (for a QR code).",
                    {
                        "type": "object",
                        "properties": {
                            "secret": {"type": "string"},
                            "otpauth_uri": {"type": "string"},
                        },
                    },
                ),
                **problems("401", "409", "503"),
            },
        ),
        "delete": _operation(
            "disableTotp",
            "Turn two-factor login off (password and a code)",
            {"204": {"description": "Off."}, **problems("401", "409", "429", "503")},
            body="TotpRemoval",
        ),
    },
    "/auth/me/totp/confirm": {
        "post": _operation(
            "confirmTotpEnrolment",
            "Turn two-factor login on with a code from the new secret",
            {
                "200": _ok(
                    "Ten single-use recovery codes, shown this once.",
                    {
                        "type": "object",
                        "properties": {
                            "recovery_codes": {
                                "type": "array",
                                "items": {"type": "string"},
                                "maxItems": RECOVERY_CODES,
                            }
                        },
                    },
                ),
                **problems("401", "503"),
            },
            body="TotpCode",
        )
    },
    "/auth/accounts/{account_id}/totp": {
        "parameters": [id_param("account_id", "account")],
        "delete": _operation(
            "resetTotp",
            "Turn two-factor login off for a locked-out user (admin)",
            {
                "204": {"description": "Off; the user is told by mail."},
                **problems("401", "403", "404", "503"),
            },
            tag="admin",
        ),
    },
    "/auth/password/forgot": {
        "post": _operation(
            "forgotPassword",
            "Ask for a password-reset link by mail",
            {"202": {"description": "If the address has an account, a link is on its way."}},
            security=PUBLIC,
            body="PasswordForgotten",
            description="The same answer whether or not the address has an account; at most "
            "one mail per MAIL_THROTTLE_SECONDS.",
        )
    },
    "/auth/password/reset": {
        "post": _operation(
            "resetPassword",
            "Choose a new password with the token from the mailed link",
            {"204": {"description": "Changed; every session of the account has ended."}},
            security=PUBLIC,
            body="PasswordReset",
            description="The link works once, within PASSWORD_RESET_TOKEN_MINUTES (30), and "
            "not after a newer link or a password change; otherwise 422 on `token`.",
        )
    },
    "/auth/.well-known/jwks.json": {
        "get": _operation(
            "getJwks",
            "Public keys of every key that signed a still-valid token (RFC 7517)",
            {"200": _ok("The key set.", ref("JsonWebKeySet"))},
            security=PUBLIC,
        )
    },
    "/auth/accounts": {
        "get": _operation(
            "listAccounts",
            "List accounts (admin)",
            {
                "200": _ok(
                    "One page.",
                    {"type": "array", "items": ref("AdminAccount"), "maxItems": 100},
                    headers=LIST_HEADERS,
                ),
                **problems("401", "403", "422", "503"),
            },
            tag="admin",
            parameters=paging_parameters(tuple(admin.SORTABLE), "id"),
        )
    },
    "/auth/accounts/{account_id}": {
        "parameters": [id_param("account_id", "account")],
        "get": _operation(
            "getAccount",
            "One account (admin)",
            {
                "200": _ok("The account.", ref("AdminAccount"), headers=ETAG_HEADER),
                "304": NOT_MODIFIED,
                **problems("401", "403", "404", "422", "503"),
            },
            tag="admin",
            parameters=[IF_NONE_MATCH],
        ),
        "patch": _operation(
            "updateAccount",
            "Change roles or the disabled flag (admin); revokes the account's tokens",
            {
                "200": _ok("The changed account.", ref("AdminAccount"), headers=ETAG_HEADER),
                **problems("401", "403", "404", "409", "412", "503"),
            },
            tag="admin",
            body="AccountUpdate",
            parameters=[if_match("changes nothing")],
        ),
    },
}


def openapi_document() -> dict[str, Any]:
    components = base_components(
        component_schemas(
            (*REQUEST_SCHEMAS, *oauth_openapi.REQUEST_SCHEMAS),
            (*RESPONSE_SCHEMAS, *oauth_openapi.RESPONSE_SCHEMAS),
        )
    )
    components["securitySchemes"] = {
        **components["securitySchemes"],
        **oauth_openapi.SECURITY_SCHEMES,
    }
    return finish(
        {
            "openapi": "3.1.0",
            "info": {
                "title": "Auth service",
                "version": "1.0.0",
                "description": "Accounts, login sessions, access/refresh JWTs (RS256), the JWKS, "
                "and OAuth 2.1 / OpenID Connect for other apps.",
                "license": LICENSE,
            },
            "servers": SERVERS,
            "tags": [*TAGS, *oauth_openapi.TAGS],
            "paths": copy.deepcopy({**PATHS, **oauth_openapi.PATHS, **HOSTED_PAGES}),
            "components": components,
        }
    )


@bp.get("/openapi.json")
def document() -> Response:
    return jsonify(openapi_document())
