"""Issuing tokens: access/refresh pairs and service tokens, signed by the current key."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
from flask import Flask, current_app, jsonify
from flask.wrappers import Response

from auth_service.keys import ALGORITHM, KeyStore
from auth_service.models import Account

SERVICE_SUBJECT = "service:auth"


def key_store(app: Flask | None = None) -> KeyStore:
    return (app or current_app).extensions["key_store"]


def new_jti() -> str:
    return uuid.uuid4().hex


def sign(claims: dict[str, Any], lifetime: float, app: Flask | None = None) -> str:
    """Add the registered claims and sign with the newest key (an object, never re-parsed)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    key = key_store(app).ring().current
    now = int(time.time())
    payload = {
        "iss": app.config["JWT_ISSUER"],
        "aud": app.config["JWT_AUDIENCE"],
        "iat": now,
        "nbf": now,
        "exp": now + int(lifetime),
        "jti": new_jti(),
        **claims,
    }
    return jwt.encode(payload, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})


def access_lifetime() -> int:
    return current_app.config["ACCESS_TOKEN_MINUTES"] * 60


def refresh_lifetime() -> int:
    return current_app.config["REFRESH_TOKEN_DAYS"] * 86400


def issue_token_pair(account: Account, session_id: str, refresh_jti: str) -> dict[str, Any]:
    """A pair for one login session; the refresh token's jti is the session's current one."""
    claims = {
        "sub": str(account.id),
        "username": account.username,
        "roles": list(account.roles or []),
        "sid": session_id,
    }
    return {
        "access_token": sign({**claims, "type": "access"}, access_lifetime()),
        "refresh_token": sign(
            {**claims, "type": "refresh", "jti": refresh_jti}, refresh_lifetime()
        ),
        "token_type": "Bearer",
        "expires_in": access_lifetime(),
    }


def service_token(app: Flask) -> str:
    """What auth presents to content: a short-lived JWT of type `service`."""
    claims = {"sub": SERVICE_SUBJECT, "type": "service"}
    return sign(claims, app.config["SERVICE_TOKEN_SECONDS"], app)


def token_response(pair: dict[str, Any], status: int = 200) -> tuple[Response, int]:
    response = jsonify(pair)
    # Tokens are credentials: never stored by a browser or a proxy cache.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response, status
