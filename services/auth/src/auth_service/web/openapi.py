"""The hosted pages in auth's OpenAPI document: HTML for people, listed so nothing is hidden."""

from __future__ import annotations

from typing import Any

TAG = ["hosted pages"]
HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}
FORM = {
    # A missing or incomplete form is answered like any invalid one: the page again, with
    # its errors (found by fuzzing: "required" promised a refusal the pages never give).
    "required": False,
    "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}},
}
NEXT = [
    {
        "name": "next",
        "in": "query",
        "required": False,
        "description": "A local path to go to afterwards (anything else means the console).",
        "schema": {"type": "string"},
    }
]


def _page(
    operation_id: str, summary: str, parameters: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "tags": TAG,
        # No bearer token: a page reads its own cookies and sends the browser to log in.
        "security": [],
        "summary": summary,
        "responses": {"200": {"description": "the page", **HTML}},
    }
    if parameters:
        operation["parameters"] = parameters
    return operation


def _post(
    operation_id: str, summary: str, parameters: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    operation = _page(operation_id, summary, parameters)
    operation["requestBody"] = FORM
    operation["responses"] = {
        "200": {"description": "the form again, with its errors beside the fields", **HTML},
        "302": {"description": "done; on to the next page"},
    }
    return operation


def _redirect(operation_id: str, summary: str) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "tags": TAG,
        "security": [],
        "summary": summary,
        "parameters": NEXT,
        "responses": {"302": {"description": "on to `next`, or to the login page"}},
    }


HOSTED_PAGES: dict[str, Any] = {
    "/auth/web/register": {
        "get": _page("showRegisterPage", "The registration form"),
        "post": _post(
            "submitRegisterPage", "Create an account (Flask-WTF form with its CSRF token)"
        ),
    },
    "/auth/web/login": {
        "get": _page("showLoginPage", "The login form", NEXT),
        "post": _post(
            "submitLoginPage",
            "Log in; the tokens are set as HttpOnly cookies (with the CSRF double-submit "
            "cookies) and the browser goes on to `next`",
            NEXT,
        ),
    },
    "/auth/web/refresh": {
        "get": _redirect(
            "refreshByCookie",
            "Trade the refresh cookie for new token cookies, then go on to `next`",
        )
    },
    "/auth/web/logout": {
        "get": _page("showLogoutPage", "Confirm logging out"),
        "post": _post(
            "submitLogoutPage",
            "Log out: revoke the session and clear the cookies (Flask-WTF's token or the "
            "access token's `csrf_access_token` value)",
        ),
    },
    "/auth/web/verify": {
        "get": _page("showVerifyPage", "The mailed link: a button that confirms the address"),
        "post": _post("submitVerifyPage", "Confirm the address (or the new address)"),
    },
    "/auth/web/forgot": {
        "get": _page("showForgotPage", "Ask for a password-reset link by mail"),
        "post": _post("submitForgotPage", "Mail the link if the address has an account"),
    },
    "/auth/web/reset": {
        "get": _page("showResetPage", "The mailed reset link: choose a new password"),
        "post": _post("submitResetPage", "Set the new password; every session ends"),
    },
    "/auth/web/security": {
        "get": _page("showSecurityPage", "E-mail status and sign-in protections (by cookie)"),
        "post": _post("submitSecurityPage", "Mail a new verification link"),
    },
    "/auth/web/login/totp": {
        "post": _post(
            "submitLoginTotpPage",
            "The second form of a two-factor login: the code (then the cookies, as at login)",
            NEXT,
        ),
    },
    "/auth/web/totp": {
        "get": _page("showTotpPage", "Turn on two-factor login: a QR code of a new secret"),
        "post": _post("submitTotpPage", "Confirm with a code; shows the recovery codes once"),
    },
    "/auth/web/password": {
        "get": _page("showPasswordPage", "The change-password form (signed in by cookie)"),
        "post": _post(
            "submitPasswordPage", "Change the password; every other session is signed out"
        ),
    },
    "/auth/web/ui/static/{filename}": {
        "get": {
            "operationId": "getPageAsset",
            "tags": TAG,
            "security": [],
            "summary": "The pages' stylesheet",
            "parameters": [
                {
                    "name": "filename",
                    "in": "path",
                    "required": True,
                    # A plain file name: no dot segment, separator or control character,
                    # which the gateway refuses before routing.
                    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$"},
                }
            ],
            "responses": {"200": {"description": "the file"}, "404": {"description": "none"}},
        }
    },
}
