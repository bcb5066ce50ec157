"""Your own account: register, read, change the password, delete."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from auth_service import account_tokens, addresses, throttle
from auth_service.account_tokens import issue_verification
from auth_service.admin import keep_another_admin
from auth_service.extensions import db
from auth_service.login_sessions import revoke_all_tokens, revoke_other_sessions
from auth_service.mail import (
    mail_password_changed,
    mail_registration_attempt,
    mail_verification,
    throttled,
)
from auth_service.models import Account, AccountToken, LoginSession
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
    answer = create_account(parse(Register, json_object()))
    return jsonify(answer), 201, {"Location": "/auth/me"}


def create_account(fields: Register) -> dict[str, object]:
    """Create the account (409 if the username is taken) and its event and mail; its answer.

    An address that a verified account holds makes an account all the same, one that can
    never verify it (addresses.py), and the holder gets a mail instead of the link: the
    registrant sees the same answer, login, profile and unverified state either way, so
    nobody learns here who has an account. The API's register and the hosted page come here.
    """
    username, address = fields.username, addresses.normal(fields.email)
    password_hash = hash_password(fields.password)
    if _username_taken(username):
        raise Problem(409, USERNAME_TAKEN)
    holder = addresses.verified_holder(address)
    account = Account(
        username=username,
        username_key=username.lower(),
        email=address,
        password_hash=password_hash,
        roles=[],
        email_claimable=holder is None,
    )
    db.session.add(account)
    try:
        db.session.flush()  # assigns the id the event carries
        record_event("account.created", account)
        if holder is None:
            mail_verification(account, issue_verification(account))
        elif not throttled(holder, "register_attempt"):
            mail_registration_attempt(holder, account)
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        if _username_taken(username):
            raise Problem(409, USERNAME_TAKEN) from exc
        raise
    return account.to_public()


USERNAME_TAKEN = "That username is already taken."


def _username_taken(username: str) -> bool:
    query = db.select(Account.id).where(Account.username_key == username.lower())
    return db.session.execute(query).first() is not None


def signed_in_account() -> Account:
    principal = current_principal()
    account = db.session.get(Account, principal.id) if principal else None
    if account is None or account.disabled:
        raise Problem(401, "The account no longer exists.", headers={"WWW-Authenticate": "Bearer"})
    return account


def require_password(account: Account, password: str) -> None:
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
    require_password(account, fields.current_password)
    account.password_hash = hash_password(fields.new_password)
    account_tokens.retire(account.id)  # links mailed before the change stop working
    mail_password_changed(account)
    db.session.commit()
    # Whoever else holds a session (perhaps the reason for the change) is signed out.
    revoke_other_sessions(account.id, keep_sid)
    log.info("password changed", extra={"account_id": account.id})


@bp.delete("/me")
@require_auth
def delete_me() -> tuple[str, int]:
    account = signed_in_account()
    require_password(account, parse(AccountDeletion, json_object()).password)
    if "admin" in (account.roles or []):
        keep_another_admin(account.id)  # as for a demotion: never no administrator at all
    account_id = account.id
    record_event("account.deleted", account)
    # Explicitly: SQLite does not enforce the foreign key's ON DELETE CASCADE by default.
    db.session.execute(delete(LoginSession).where(LoginSession.account_id == account_id))
    db.session.execute(delete(AccountToken).where(AccountToken.account_id == account_id))
    db.session.delete(account)
    db.session.commit()
    revoke_all_tokens(account_id)
    log.info("account deleted", extra={"account_id": account_id})
    return "", 204
