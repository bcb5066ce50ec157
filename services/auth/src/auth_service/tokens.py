"""Issuing token pairs: asymmetric JWTs with the contract's claims."""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app, jsonify
from flask.wrappers import Response
from flask_jwt_extended import create_access_token, create_refresh_token

from auth_service.models import Account


def issue_token_pair(account: Account, session_id: str | None = None) -> dict[str, Any]:
    sid = session_id or uuid.uuid4().hex
    claims = {"username": account.username, "roles": list(account.roles or []), "sid": sid}
    identity = str(account.id)
    return {
        "access_token": create_access_token(identity, additional_claims=claims),
        "refresh_token": create_refresh_token(identity, additional_claims=claims),
        "token_type": "Bearer",
        "expires_in": current_app.config["ACCESS_TOKEN_MINUTES"] * 60,
    }


def token_response(pair: dict[str, Any], status: int = 200) -> tuple[Response, int]:
    response = jsonify(pair)
    # Tokens are credentials: never stored by a browser or a proxy cache.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response, status
