"""Issuing tokens: access/refresh pairs and service tokens, signed by the current key."""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

from flask import Flask, current_app, jsonify
from flask.wrappers import Response
from flask_jwt_extended import create_access_token, create_refresh_token

from auth_service.extensions import jwt_manager
from auth_service.keys import ALGORITHM, KeyStore
from auth_service.models import Account

SERVICE_SUBJECT = "service:auth"


def key_store(app: Flask | None = None) -> KeyStore:
    return (app or current_app).extensions["key_store"]


def new_jti() -> str:
    return uuid.uuid4().hex


# The key that the token being encoded right now is signed with: set by `sign`, read by
# flask-jwt-extended's key loader, so the `kid` header and the signature always agree even
# while another thread rotates the key ring.
_signing_key: ContextVar[Any] = ContextVar("signing_key")


def init_token_issuing(app: Flask) -> None:
    """Tokens are encoded by flask-jwt-extended with the key ring's current RSA key."""
    app.config.update(
        JWT_ALGORITHM=ALGORITHM,
        JWT_ENCODE_ISSUER=app.config["JWT_ISSUER"],
        JWT_ENCODE_AUDIENCE=app.config["JWT_AUDIENCE"],
        JWT_ENCODE_NBF=True,
    )
    jwt_manager.init_app(app)
    jwt_manager.encode_key_loader(lambda identity: _signing_key.get())


def sign(claims: dict[str, Any], lifetime: float, app: Flask | None = None) -> str:
    """Sign with the newest key (an object loaded once, never re-parsed).

    `claims` carries `sub` and `type`, and may pin the `jti`; flask-jwt-extended adds
    `iss`, `aud`, `iat`, `nbf`, `exp` and a fresh `jti` otherwise.
    """
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    key = key_store(app).ring().current
    extra = {k: v for k, v in claims.items() if k != "sub"}
    extra.setdefault("jti", new_jti())
    create = create_refresh_token if claims.get("type") == "refresh" else create_access_token
    token = _signing_key.set(key.private_key)
    try:
        # The outbox relay signs from its own thread, outside any request.
        with app.app_context():
            return create(
                identity=str(claims["sub"]),
                expires_delta=timedelta(seconds=int(lifetime)),
                additional_claims=extra,
                additional_headers={"kid": key.kid},
            )
    finally:
        _signing_key.reset(token)


def access_lifetime() -> int:
    return current_app.config["ACCESS_TOKEN_MINUTES"] * 60


def refresh_lifetime() -> int:
    return current_app.config["REFRESH_TOKEN_DAYS"] * 86400


def issue_token_pair(
    account: Account, session_id: str, refresh_jti: str, amr: list[str] | None = None
) -> dict[str, Any]:
    """A pair for one login session; the refresh token's jti is the session's current one."""
    claims = {
        "sub": str(account.id),
        "username": account.username,
        "roles": list(account.roles or []),
        "sid": session_id,
        # Content lets only verified addresses write; a fresh pair says the current state.
        "email_verified": bool(account.email_verified),
        # RFC 8176: how the login was made, kept by every refresh of its session.
        "amr": list(amr or ["pwd"]),
    }
    return {
        "access_token": sign({**claims, "type": "access"}, access_lifetime()),
        "refresh_token": sign(
            {**claims, "type": "refresh", "jti": refresh_jti}, refresh_lifetime()
        ),
        "token_type": "Bearer",  # not a secret  # nosec B105
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
