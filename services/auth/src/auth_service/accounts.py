"""Your own account: register, read, change the password, delete."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from auth_service import throttle
from auth_service.extensions import db
from auth_service.login_sessions import revoke_all_tokens, revoke_other_sessions
from auth_service.models import Account, LoginSession
from auth_service.outbox import record_event
from auth_service.passwords import MAX_LENGTH, hash_password, verify_password
from auth_service.schemas import AccountDeletion, PasswordChange, Register, parse
from shared.auth import current_principal, require_auth
from shared.conditional import conditional_json
from shared.problems import Problem
from shared.requests_json import json_object

bp = Blueprint("accounts", __name__)
log = logging.getLogger(__name__)


@bp.post("/register")
def register() -> tuple[Response, int, dict[str, str]]:
    account = create_account(parse(Register, json_object()))
    return jsonify(account.to_public()), 201, {"Location": "/auth/me"}


def create_account(fields: Register) -> Account:
    """Create the account (409 if taken) and its account event.

    The API's register and the hosted register page both come here.
    """
    username, email, password = fields.username, fields.email, fields.password
    account = Account(
        username=username,
        username_key=username.lower(),
        email=email.strip().lower(),
        password_hash=hash_password(password),
        roles=[],
    )
    db.session.add(account)
    try:
        db.session.flush()  # assigns the id the event carries
        record_event("account.created", account)
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise Problem(409, "That username or email is already taken.") from exc
    return account


def signed_in_account() -> Account:
    principal = current_principal()
    account = db.session.get(Account, principal.id) if principal else None
    if account is None or account.disabled:
        raise Problem(401, "The account no longer exists.", headers={"WWW-Authenticate": "Bearer"})
    return account


def _require_password(account: Account, password: str) -> None:
    """Re-check the password for a sensitive change, throttled like a login."""
    address = request.remote_addr or "unknown"
    key = throttle.account_key(account.id, account.username_key)
    throttle.check(key, address)
    if len(password) > MAX_LENGTH or not verify_password(account.password_hash, password):
        throttle.record_failure(key, address)
        raise Problem(401, "The password is incorrect.", headers={"WWW-Authenticate": "Bearer"})


@bp.get("/me")
@require_auth
def me() -> Response:
    return conditional_json(signed_in_account().to_public())


@bp.put("/me/password")
@require_auth
def change_password() -> tuple[str, int]:
    account = signed_in_account()
    fields = parse(PasswordChange, json_object())
    principal = current_principal()
    assert principal is not None  # type narrowing only  # nosec B101
    set_password(account, fields, principal.claims.get("sid"))
    return "", 204


def set_password(account: Account, fields: PasswordChange, keep_sid: str | None) -> None:
    """Change the password (401 if the current one is wrong); end other sessions.

    The API and the hosted password page both come here.
    """
    _require_password(account, fields.current_password)
    account.password_hash = hash_password(fields.new_password)
    db.session.commit()
    # Whoever else holds a session (perhaps the reason for the change) is signed out.
    revoke_other_sessions(account.id, keep_sid)
    log.info("password changed", extra={"account_id": account.id})


@bp.delete("/me")
@require_auth
def delete_me() -> tuple[str, int]:
    account = signed_in_account()
    _require_password(account, parse(AccountDeletion, json_object()).password)
    account_id = account.id
    record_event("account.deleted", account)
    # Explicitly: SQLite does not enforce the foreign key's ON DELETE CASCADE by default.
    db.session.execute(delete(LoginSession).where(LoginSession.account_id == account_id))
    db.session.delete(account)
    db.session.commit()
    revoke_all_tokens(account_id)
    log.info("account deleted", extra={"account_id": account_id})
    return "", 204
