"""Issuing tokens: access/refresh pairs, signed by the current key, each explicitly typed."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

import jwt
from flask import Flask, current_app, jsonify
from flask.wrappers import Response
from flask_jwt_extended import create_access_token, create_refresh_token

from auth_service.extensions import jwt_manager
from auth_service.keys import ALGORITHM, KeyStore
from auth_service.models import Account
from auth_service.scopes import first_party_scope
from shared.tokens import TOKEN_TYPES


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

    `claims` carries `sub`, `type` and `client_id`, and may pin the `jti`;
    flask-jwt-extended adds `iss`, `aud`, `iat`, `nbf`, `exp` and a fresh `jti` otherwise.
    The JOSE `typ` header follows `type` (`at+jwt` for access tokens, RFC 9068).
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
                additional_headers={"kid": key.kid, "typ": TOKEN_TYPES[claims["type"]]},
            )
    finally:
        _signing_key.reset(token)


def sign_id_token(claims: dict[str, Any], client_id: str, access_token: str) -> str:
    """An OpenID Connect ID token for one client: `typ: JWT`, the client as audience.

    Neither its type nor its audience is an access token's, so no verifier of the suite
    takes it as one. `at_hash` binds it to the access token issued with it (Core 3.1.3.6).
    """
    key = key_store().ring().current
    now = int(time.time())
    digest = hashlib.sha256(access_token.encode()).digest()
    payload = {
        **claims,
        "iss": current_app.config["JWT_ISSUER"],
        "aud": client_id,
        "azp": client_id,
        "iat": now,
        "exp": now + access_lifetime(),
        "at_hash": base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode(),
    }
    return jwt.encode(
        payload, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": "JWT"}
    )


def access_lifetime() -> int:
    return current_app.config["ACCESS_TOKEN_MINUTES"] * 60


def refresh_lifetime() -> int:
    return current_app.config["REFRESH_TOKEN_DAYS"] * 86400


def issue_token_pair(
    account: Account,
    session_id: str,
    refresh_jti: str,
    amr: list[str] | None = None,
    client_id: str | None = None,
    scope: str | None = None,
) -> dict[str, Any]:
    """A pair for one login session; the refresh token's jti is the session's current one.

    Without a client and scope, the pair is the suite's own first-party login's.
    """
    roles = list(account.roles or [])
    claims = {
        "sub": str(account.id),
        "username": account.username,
        "roles": roles,
        "sid": session_id,
        "client_id": client_id or current_app.config["FIRST_PARTY_CLIENT_ID"],
        "scope": first_party_scope(roles) if scope is None else scope,
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


def client_token(client_id: str, scope: str, lifetime: int | None = None) -> dict[str, Any]:
    """The client credentials grant's answer: an access token of the client itself.

    RFC 9068 2.2: with no resource owner, `sub` is the client's id. No refresh token.
    """
    lifetime = lifetime or access_lifetime()
    claims = {"sub": client_id, "client_id": client_id, "scope": scope, "type": "access"}
    return {
        "access_token": sign(claims, lifetime),
        "token_type": "Bearer",  # not a secret  # nosec B105
        "expires_in": lifetime,
        "scope": scope,
    }


def token_response(pair: dict[str, Any], status: int = 200) -> tuple[Response, int]:
    response = jsonify(pair)
    # Tokens are credentials: never stored by a browser or a proxy cache.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response, status
