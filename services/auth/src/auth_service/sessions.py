"""Login, refresh, logout and the public key set."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import or_

from auth_service import login_sessions, second_factor, throttle
from auth_service.extensions import db
from auth_service.models import Account
from auth_service.passwords import MAX_LENGTH, hash_password, needs_rehash, verify_password
from auth_service.schemas import Login, parse
from auth_service.tokens import key_store, token_response
from shared.auth import authenticate
from shared.problems import Problem
from shared.requests_json import json_object

bp = Blueprint("sessions", __name__)
log = logging.getLogger(__name__)

INVALID_CREDENTIALS = "Invalid username or password."
MAX_USERNAME_LENGTH = 254  # an email address at most
UNVERIFIED_LOGIN = "Confirm your e-mail address first: open the link in the mail we sent you."


@bp.post("/login")
def login() -> tuple[Response, int]:
    fields = parse(Login, json_object())
    return token_response(
        sign_in(fields.username, fields.password, request.remote_addr or "unknown")
    )


def sign_in(username: str, password: str, address: str) -> dict[str, Any]:
    """Check the credentials (throttled) and start a login session; its token pair.

    The API's login and the hosted login page both come here.
    """
    account = check_credentials(username, password, address)
    if account.totp_enabled:
        return second_factor.second_step(account)
    return login_sessions.start_session(account)


def check_credentials(username: str, password: str, address: str) -> Account:
    """The account these credentials open (throttled), or the 401 (or 403) problem.

    Login, the hosted login page and the OAuth password grant all come here.
    """
    typed = username.strip().lower()[:MAX_USERNAME_LENGTH]
    account = _find_account(typed)
    # Counted per account whichever name was typed (username or email), so the two names of
    # one account share its five tries; an unknown name is counted by itself.
    key = throttle.account_key(account.id if account else None, typed)
    throttle.check(key, address)
    account = _verified(account, password)
    if account is None:
        throttle.record_failure(key, address)
        raise Problem(401, INVALID_CREDENTIALS)
    throttle.record_success(key, address)
    if not account.email_verified and not current_app.config["ALLOW_UNVERIFIED_LOGIN"]:
        # Only after the password: this says nothing to someone who does not know it.
        raise Problem(403, UNVERIFIED_LOGIN)
    if needs_rehash(account.password_hash):
        # The hashing parameters changed since this hash was made: upgrade it now.
        account.password_hash = hash_password(password)
        db.session.commit()
    return account


def _find_account(typed: str) -> Account | None:
    # An address names only the account that verified it: several may show one unverified
    # (addresses.py), and none of them may log in by it, so none can be told apart that way.
    by_address = (Account.email == typed) & Account.email_verified
    return db.session.execute(
        db.select(Account).where(or_(Account.username_key == typed, by_address))
    ).scalar_one_or_none()


def _verified(account: Account | None, password: str) -> Account | None:
    # Refused before any hashing: a megabyte of password costs real CPU.
    if len(password) > MAX_LENGTH:
        return None
    # An unknown user still costs one hash verification, so timing tells nothing.
    valid = verify_password(account.password_hash if account else None, password)
    if account is None or not valid or account.disabled:
        return None
    return account


@bp.post("/refresh")
def refresh() -> tuple[Response, int]:
    principal = authenticate(expected_type="refresh")
    return token_response(login_sessions.refresh(principal.claims))


@bp.post("/logout")
def logout() -> tuple[str, int]:
    sign_out(authenticate().claims)
    return "", 204


def sign_out(claims: dict[str, Any]) -> None:
    """End the login session of these (verified) token claims, everywhere at once."""
    login_sessions.revoke_access_token(claims)
    sid = claims.get("sid")
    if isinstance(sid, str):
        login_sessions.revoke_session(sid)


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    response = jsonify(key_store().ring().jwks())
    # Short: a rotated key should reach every verifier within minutes.
    response.headers["Cache-Control"] = f"public, max-age={current_app.config['JWKS_MAX_AGE']}"
    return response
