"""Auth as an OAuth 2.1 authorization server, on authlib's Flask server.

authlib parses and checks the protocol (grant types, client authentication, scopes, the
RFC 6749 error codes); the tokens themselves are the suite's: RFC 9068 access tokens and
refresh tokens of a login session, issued and rotated by the same code as /auth/login's.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc6749.requests import OAuth2Request
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, Response, current_app, g, json, request
from sqlalchemy import CursorResult, update

from auth_service import login_sessions, sessions
from auth_service.extensions import db
from auth_service.models import Account, LoginSession
from auth_service.oauth_models import AuthorizationCode, OAuthClient, digest
from auth_service.scopes import SUPPORTED, allowed_for_account
from auth_service.tokens import client_token, sign_id_token
from shared.auth import token_verifier
from shared.problems import Problem, problem_body
from shared.tokens import InvalidToken, RevocationUnavailable

log = logging.getLogger(__name__)

SECRET_METHODS = ["client_secret_basic", "client_secret_post"]
ANY_METHOD = [*SECRET_METHODS, "none"]


@dataclass(frozen=True)
class Grantee:
    """The resource owner a grant acts for (authlib's `user`)."""

    account: Account
    auth_time: float | None = None  # when they last proved who they are (OIDC auth_time)
    amr: list[str] | None = None  # how (RFC 8176): kept in the tokens the grant gives

    def get_user_id(self) -> int:
        return self.account.id


@dataclass(frozen=True)
class RefreshCredential:
    """A verified refresh token and the login session it belongs to."""

    claims: dict[str, Any]
    session: LoginSession

    def check_client(self, client: OAuthClient) -> bool:
        return self.claims.get("client_id") == client.client_id

    def get_scope(self) -> str:
        return self.session.scope or ""


@dataclass(frozen=True)
class KnownToken:
    """A token auth signed, as the revocation and introspection endpoints see it."""

    claims: dict[str, Any]
    kind: str  # "access_token" or "refresh_token"

    def check_client(self, client: OAuthClient) -> bool:
        return self.claims.get("client_id") == client.client_id

    def is_expired(self) -> bool:
        return False  # decode() already refused an expired token

    def is_revoked(self) -> bool:
        if self.kind == "refresh_token":
            session = db.session.get(LoginSession, self.claims.get("sid"))
            if session is None or session.revoked_at is not None:
                return True
            return self.claims["jti"] != session.current_jti  # rotated out
        try:
            return login_sessions.revocations().is_revoked(self.claims)
        except RevocationUnavailable as exc:
            raise Problem(
                503, "Token revocation cannot be checked right now.", headers={"Retry-After": "5"}
            ) from exc


def find_token(token: str, hint: str | None) -> KnownToken | None:
    """The verified claims of one of auth's access or refresh tokens, or None."""
    kinds = [("access", "access_token"), ("refresh", "refresh_token")]
    if hint == "refresh_token":
        kinds.reverse()
    for expected, kind in kinds:
        try:
            return KnownToken(token_verifier().decode(token, expected), kind)
        except InvalidToken:
            continue
    return None


class Revocation(RevocationEndpoint):
    """RFC 7009: a client revokes its own token; a refresh token ends its whole session."""

    CLIENT_AUTH_METHODS = ANY_METHOD

    def query_token(self, token_string: str, token_type_hint: str | None) -> KnownToken | None:
        return find_token(token_string, token_type_hint)

    def revoke_token(self, token: KnownToken, oauth_request: Any) -> None:
        if token.kind == "refresh_token":
            login_sessions.revoke_session(token.claims["sid"])
        else:
            login_sessions.revoke_access_token(token.claims)


class Introspection(IntrospectionEndpoint):
    """RFC 7662, for confidential clients (resource servers) only."""

    CLIENT_AUTH_METHODS = SECRET_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> KnownToken | None:
        return find_token(token_string, token_type_hint)

    def check_permission(self, token: KnownToken, client: OAuthClient, oauth_request: Any) -> bool:
        return not client.public

    def introspect_token(self, token: KnownToken) -> dict[str, Any]:
        claims = token.claims
        shown = ("scope", "client_id", "username", "exp", "iat", "nbf", "sub", "aud", "iss", "jti")
        return {
            "active": True,
            "token_type": "Bearer" if token.kind == "access_token" else "refresh_token",
            **{name: claims[name] for name in shown if name in claims},
        }


class PublicUrlRequest(FlaskOAuth2Request):
    """The request as its client addressed it: ISSUER's origin, not auth's internal address.

    TLS ends at the gateway or the ingress in front of it, so authlib's https check is made
    on the issuer's URL (https in production; loopback http under `make up`).
    """

    def __init__(self, flask_request: Any) -> None:
        issuer = current_app.config["JWT_ISSUER"]
        origin = issuer[: -len("/auth")] if issuer.endswith("/auth") else issuer
        OAuth2Request.__init__(
            self,
            method=flask_request.method,
            uri=origin + flask_request.full_path.rstrip("?"),
            headers=flask_request.headers,
        )
        self._request = flask_request
        # The payload alone: a FlaskOAuth2Request would check auth's internal URL
        # (http://auth:8001 in containers) for https, and refuse every request.
        self.payload = FlaskOAuth2Payload(flask_request)


class SuiteAuthorizationServer(AuthorizationServer):
    def create_oauth2_request(self, _request: Any) -> OAuth2Request:
        return PublicUrlRequest(request)

    def handle_response(self, status_code: int, payload: Any, headers: Any) -> Response:
        """RFC 6749's answer; an error as RFC 6749 5.2 asks, and a problem document too.

        An error is `application/json` with `error` and `error_description` (RFC 6749 5.2,
        RFC 7009 2.2.1, RFC 7662 2.3), so every OAuth client library reads it; its body also
        holds the problem members (`type`, `title`, `status`, `detail`, `instance`), which the
        gateway and the suite's other clients read. invalid_client is 401 with
        `WWW-Authenticate` (authlib's rule: whenever client_secret_basic was possible).
        """
        if status_code >= 400 and isinstance(payload, dict) and "error" in payload:
            detail = payload.get("error_description") or payload["error"]
            body = problem_body(
                status_code, detail, instance=request.path, request_id=g.get("request_id")
            )
            body.update(payload)
            response = Response(json.dumps(body), status=status_code, headers=headers)
            response.mimetype = "application/json"
        else:
            response = super().handle_response(status_code, payload, headers)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
        return response


def query_client(client_id: str) -> OAuthClient | None:
    return db.session.get(OAuthClient, client_id) if client_id else None


def save_token(token: dict[str, Any], oauth_request: Any) -> None:
    """Access tokens are self-contained and refresh tokens live in sessions; a code only
    remembers the session it started, so a replay of the code can end that session."""
    code = getattr(oauth_request, "authorization_code", None)
    if isinstance(code, AuthorizationCode) and "refresh_token" in token:
        claims = token_verifier().decode(token["refresh_token"], "refresh")
        code.session_id = claims["sid"]
        db.session.commit()


def generate_token(
    grant_type: str,
    client: OAuthClient,
    user: Grantee | None = None,
    scope: str | None = None,
    expires_in: int | None = None,
    include_refresh_token: bool = True,
) -> dict[str, Any]:
    """The token response: a client's own access token, or a new login session's pair.

    The scope is what was asked for (all the client may have, when nothing was) narrowed to
    what the client is registered for and, for a user, what the account may hold.
    """
    if grant_type == "authorization_code":
        granted = scope or ""  # what the user consented to, narrowed at the authorize step
    else:
        granted = client.get_allowed_scope(scope or client.scope)
    if user is None:
        return client_token(client.client_id, granted)
    granted = " ".join(allowed_for_account(granted.split(), user.account.roles or []))
    pair = login_sessions.start_session(user.account, user.amr, client.client_id, granted)
    return {**pair, "scope": granted}


class S256Challenge(CodeChallenge):
    """PKCE for every client and every code, with S256 only (OAuth 2.1 4.1.1, 7.5.2)."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send 'code_challenge'.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only 'code_challenge_method=S256' is accepted.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'.")
        super().validate_code_verifier(grant, result)

    def get_authorization_code_challenge(self, authorization_code: AuthorizationCode) -> str:
        return authorization_code.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: AuthorizationCode) -> str:
        return authorization_code.code_challenge_method


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    """Codes are single use: redeeming one claims it by a compare-and-swap, and a second
    redemption (a replay) ends the session the first one started (RFC 6749 4.1.2)."""

    TOKEN_ENDPOINT_AUTH_METHODS = ANY_METHOD

    def save_authorization_code(self, code: str, oauth_request: Any) -> None:
        payload = oauth_request.payload
        user: Grantee = oauth_request.user
        db.session.add(
            AuthorizationCode(
                code_hash=digest(code),
                client_id=oauth_request.client.client_id,
                account_id=user.account.id,
                redirect_uri=payload.redirect_uri
                or oauth_request.client.get_default_redirect_uri(),
                scope=oauth_request.scope or "",
                nonce=payload.data.get("nonce"),
                code_challenge=payload.data["code_challenge"],
                code_challenge_method=payload.data["code_challenge_method"],
                auth_time=user.auth_time or time.time(),
                amr=user.amr,
                expires_at=time.time() + current_app.config["OAUTH_CODE_SECONDS"],
            )
        )
        db.session.commit()

    def generate_authorization_code(self) -> str:
        return secrets.token_urlsafe(32)

    def query_authorization_code(self, code: str, client: OAuthClient) -> AuthorizationCode | None:
        found = db.session.get(AuthorizationCode, digest(code))
        if found is None or found.client_id != client.client_id:
            return None
        claimed: CursorResult[Any] = db.session.execute(  # type: ignore[assignment]
            update(AuthorizationCode)
            .where(AuthorizationCode.code_hash == found.code_hash)
            .where(AuthorizationCode.used_at.is_(None))
            .values(used_at=time.time())
        )
        db.session.commit()
        if claimed.rowcount != 1:
            log.warning("authorization code replayed", extra={"client_id": client.client_id})
            db.session.refresh(found)
            if found.session_id:
                login_sessions.revoke_session(found.session_id)
            return None
        if found.is_expired():
            return None
        return found

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Kept, marked used: a replay must still find it to revoke what it gave."""

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Grantee | None:
        account = db.session.get(Account, authorization_code.account_id)
        if account is None or account.disabled:
            return None
        return Grantee(account, authorization_code.auth_time, authorization_code.amr)


def user_info(account: Account, scope: str) -> UserInfo:
    """OIDC standard claims the scope allows (Core 5.4)."""
    granted = set(scope.split())
    info = UserInfo(sub=str(account.id))
    if "profile" in granted:
        info["preferred_username"] = account.username
        info["name"] = account.username
    if "email" in granted:
        info["email"] = account.email
        info["email_verified"] = bool(getattr(account, "email_verified", False))
    return info


class SuiteOpenIDCode(OpenIDCode):
    """ID tokens for the `openid` scope, signed by the suite's current key, `typ: JWT`."""

    def exists_nonce(self, nonce: str, oauth_request: Any) -> bool:
        used = db.session.execute(
            db.select(AuthorizationCode.code_hash).where(
                AuthorizationCode.client_id == oauth_request.payload.client_id,
                AuthorizationCode.nonce == nonce,
            )
        ).first()
        return used is not None

    def generate_user_info(self, user: Grantee, scope: str) -> UserInfo:
        return user_info(user.account, scope)

    def encode_id_token(self, token: dict[str, Any], oauth_request: Any) -> str:
        code: AuthorizationCode = oauth_request.authorization_code
        claims: dict[str, Any] = dict(self.generate_user_info(oauth_request.user, token["scope"]))
        claims["auth_time"] = int(code.auth_time)
        if code.nonce:
            claims["nonce"] = code.nonce
        return sign_id_token(claims, oauth_request.client.client_id, token["access_token"])


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = SECRET_METHODS


class PasswordGrant(grants.ResourceOwnerPasswordCredentialsGrant):
    """Only for first-party clients (OAuthClient.check_grant_type) and where enabled."""

    TOKEN_ENDPOINT_AUTH_METHODS = ANY_METHOD

    def authenticate_user(self, username: str, password: str) -> Grantee:
        address = request.remote_addr or "unknown"
        try:
            account = sessions.check_credentials(username, password, address)
        except Problem as problem:
            if problem.status != 401:
                raise  # throttled (429), unverified (403), Redis down (503): the suite's answer
            # RFC 6749 5.2: wrong resource owner credentials are an invalid grant.
            raise InvalidGrantError(problem.detail) from problem
        if account.totp_enabled:
            # A password alone must not stand in for two factors: such an account logs in
            # through the hosted pages (the authorization code flow).
            raise InvalidGrantError("This account logs in with two factors; use the login page.")
        return Grantee(account)


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """Rotation with reuse detection, exactly as /auth/refresh (login_sessions.refresh)."""

    TOKEN_ENDPOINT_AUTH_METHODS = ANY_METHOD
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshCredential | None:
        try:
            claims = token_verifier().verify(refresh_token, expected_type="refresh")
        except InvalidToken:
            return None
        except RevocationUnavailable as exc:
            raise Problem(
                503, "Token revocation cannot be checked right now.", headers={"Retry-After": "5"}
            ) from exc
        session = db.session.get(LoginSession, claims.get("sid"))
        return RefreshCredential(claims, session) if session is not None else None

    def authenticate_user(self, credential: RefreshCredential) -> Grantee | None:
        account = db.session.get(Account, credential.session.account_id)
        return Grantee(account) if account is not None else None

    def issue_token(self, user: Grantee, credential: RefreshCredential) -> dict[str, Any]:
        try:
            pair = login_sessions.refresh(credential.claims)
        except Problem as problem:
            if problem.status != 401:
                raise
            raise InvalidGrantError(problem.detail) from problem
        return {**pair, "scope": credential.get_scope()}

    def revoke_old_credential(self, credential: RefreshCredential) -> None:
        """Already retired by the rotation's compare-and-swap in issue_token."""


def init_oauth_server(app: Flask) -> None:
    app.config.setdefault("OAUTH2_SCOPES_SUPPORTED", list(SUPPORTED))
    server = SuiteAuthorizationServer()
    server.init_app(app, query_client=query_client, save_token=save_token)
    server.register_token_generator("default", generate_token)
    server.register_grant(AuthorizationCodeGrant, [S256Challenge(), SuiteOpenIDCode()])
    server.register_grant(ClientCredentialsGrant)
    server.register_grant(RefreshTokenGrant)
    if app.config["OAUTH_PASSWORD_GRANT"]:
        server.register_grant(PasswordGrant)
    server.register_endpoint(Revocation)
    server.register_endpoint(Introspection)
    app.extensions["oauth_server"] = server


def oauth_server() -> SuiteAuthorizationServer:
    return current_app.extensions["oauth_server"]


def grant_types(app: Flask) -> list[str]:
    """The grant types the token endpoint serves, as the metadata advertises them."""
    served = ["authorization_code", "refresh_token", "client_credentials"]
    if app.config["OAUTH_PASSWORD_GRANT"]:
        served.append("password")
    return served
