"""Your own account: register, read, change the password, delete."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from auth_service import throttle
from auth_service.etags import conditional_json
from auth_service.extensions import db
from auth_service.login_sessions import revoke_all_tokens, revoke_other_sessions
from auth_service.models import Account, LoginSession
from auth_service.outbox import record_event
from auth_service.passwords import MAX_LENGTH, hash_password, verify_password
from auth_service.validation import (
    check_email,
    check_known_fields,
    check_password,
    check_username,
)
from shared.auth import current_principal, require_auth
from shared.problems import Problem, ValidationProblem
from shared.requests_json import json_object

bp = Blueprint("accounts", __name__)
log = logging.getLogger(__name__)


@bp.post("/register")
def register() -> tuple[Response, int, dict[str, str]]:
    body = json_object()
    errors: list[dict[str, str]] = []
    check_known_fields(body, {"username", "email", "password"}, errors)
    check_username(body.get("username"), errors)
    check_email(body.get("email"), errors)
    check_password(body.get("password"), errors)
    if errors:
        raise ValidationProblem(errors)
    username, email = body["username"], body["email"].strip().lower()
    account = Account(
        username=username,
        username_key=username.lower(),
        email=email,
        password_hash=hash_password(body["password"]),
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
    return jsonify(account.to_public()), 201, {"Location": "/auth/me"}


def signed_in_account() -> Account:
    principal = current_principal()
    account = db.session.get(Account, principal.id) if principal else None
    if account is None or account.disabled:
        raise Problem(401, "The account no longer exists.", headers={"WWW-Authenticate": "Bearer"})
    return account


def _require_password(account: Account, password: object, field: str) -> None:
    """Re-check the password for a sensitive change, throttled like a login."""
    if not isinstance(password, str) or not password:
        raise ValidationProblem([{"field": field, "message": "required"}])
    address = request.remote_addr or "unknown"
    throttle.check(account.username_key, address)
    if len(password) > MAX_LENGTH or not verify_password(account.password_hash, password):
        throttle.record_failure(account.username_key, address)
        raise Problem(401, "The password is incorrect.", headers={"WWW-Authenticate": "Bearer"})


@bp.get("/me")
@require_auth
def me() -> Response:
    return conditional_json(signed_in_account().to_public())


@bp.put("/me/password")
@require_auth
def change_password() -> tuple[str, int]:
    account = signed_in_account()
    body = json_object()
    errors: list[dict[str, str]] = []
    check_known_fields(body, {"current_password", "new_password"}, errors)
    check_password(body.get("new_password"), errors, "new_password")
    if errors:
        raise ValidationProblem(errors)
    _require_password(account, body.get("current_password"), "current_password")
    account.password_hash = hash_password(body["new_password"])
    db.session.commit()
    principal = current_principal()
    assert principal is not None
    # Whoever else holds a session (perhaps the reason for the change) is signed out.
    revoke_other_sessions(account.id, principal.claims.get("sid"))
    log.info("password changed", extra={"account_id": account.id})
    return "", 204


@bp.delete("/me")
@require_auth
def delete_me() -> tuple[str, int]:
    account = signed_in_account()
    body = json_object()
    errors: list[dict[str, str]] = []
    check_known_fields(body, {"password"}, errors)
    if errors:
        raise ValidationProblem(errors)
    _require_password(account, body.get("password"), "password")
    account_id = account.id
    record_event("account.deleted", account)
    # Explicitly: SQLite does not enforce the foreign key's ON DELETE CASCADE by default.
    db.session.execute(delete(LoginSession).where(LoginSession.account_id == account_id))
    db.session.delete(account)
    db.session.commit()
    revoke_all_tokens(account_id)
    log.info("account deleted", extra={"account_id": account_id})
    return "", 204
