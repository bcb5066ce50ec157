"""The standard endpoints beside the suite's JSON API: token endpoint and server metadata."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from auth_service.extensions import db
from auth_service.keys import ALGORITHM
from auth_service.models import Account
from auth_service.oauth_server import grant_types, oauth_server, user_info
from auth_service.scopes import OPENID, SUPPORTED
from shared.auth import authenticate
from shared.problems import Problem
from shared.tokens import scopes

bp = Blueprint("oauth", __name__)


@bp.post("/token")
def token() -> Response:
    """RFC 6749 section 3.2: form-encoded grant requests, JSON token answers."""
    return oauth_server().create_token_response()


@bp.post("/revoke")
def revoke() -> Response:
    """RFC 7009 token revocation."""
    return oauth_server().create_endpoint_response("revocation")


@bp.post("/introspect")
def introspect() -> Response:
    """RFC 7662 token introspection (confidential clients)."""
    return oauth_server().create_endpoint_response("introspection")


def metadata() -> dict[str, Any]:
    """RFC 8414 authorization server metadata, from the endpoints this server serves."""
    issuer = current_app.config["JWT_ISSUER"]
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "revocation_endpoint": f"{issuer}/revoke",
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "introspection_endpoint": f"{issuer}/introspect",
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "scopes_supported": list(SUPPORTED),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": grant_types(current_app),
        "code_challenge_methods_supported": ["S256"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "name",
            "preferred_username",
            "email",
            "email_verified",
        ],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
    }


@bp.get("/.well-known/oauth-authorization-server")
@bp.get("/.well-known/openid-configuration")
def authorization_server_metadata() -> Response:
    """RFC 8414 and OpenID Connect Discovery 1.0: one document serves both."""
    response = jsonify(metadata())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo() -> Response:
    """OIDC Core 5.3: the claims the access token's scope allows about its user."""
    principal = authenticate()
    if OPENID not in scopes(principal.claims):
        raise Problem(
            403,
            "The access token lacks the openid scope.",
            headers={"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="openid"'},
        )
    account = db.session.get(Account, principal.id)
    if account is None:
        raise Problem(401, "The account no longer exists.")
    response = jsonify(dict(user_info(account, principal.claims.get("scope", ""))))
    response.headers["Cache-Control"] = "no-store"
    return response
