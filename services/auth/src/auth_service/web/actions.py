"""What the hosted pages do, as calls into auth's own account and session code.

The pages and the JSON API must behave alike (same rules, same throttling, same
revocation), so this module only forwards to the functions the API views use.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_
from sqlalchemy.exc import IntegrityError

from auth_service.extensions import db
from auth_service.models import Account
from auth_service.passwords import MAX_LENGTH, hash_password, verify_password
from auth_service.tokens import issue_token_pair
from auth_service.validation import check_email, check_password, check_username
from shared.auth import token_verifier
from shared.problems import Problem, ValidationProblem

INVALID_CREDENTIALS = "Invalid username or password."


def register(username: str, email: str, password: str) -> Account:
    errors: list[dict[str, str]] = []
    check_username(username, errors)
    check_email(email, errors)
    check_password(password, errors)
    if errors:
        raise ValidationProblem(errors)
    account = Account(
        username=username,
        username_key=username.lower(),
        email=email.strip().lower(),
        password_hash=hash_password(password),
        roles=[],
    )
    db.session.add(account)
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise Problem(409, "That username or email is already taken.") from exc
    return account


def sign_in(username: str, password: str, address: str) -> dict[str, Any]:
    key = username.strip().lower()
    account = db.session.execute(
        db.select(Account).where(or_(Account.username_key == key, func.lower(Account.email) == key))
    ).scalar_one_or_none()
    valid = len(password) <= MAX_LENGTH and verify_password(
        account.password_hash if account else None, password
    )
    if account is None or not valid or account.disabled:
        raise Problem(401, INVALID_CREDENTIALS)
    return issue_token_pair(account)


def refresh(refresh_claims: dict[str, Any]) -> dict[str, Any]:
    account = db.session.get(Account, int(refresh_claims["sub"]))
    if account is None or account.disabled:
        raise Problem(401, "The account no longer exists.")
    revocations = token_verifier().revocations
    if revocations is not None:
        revocations.revoke_token(refresh_claims["jti"], float(refresh_claims["exp"]))
    return issue_token_pair(account, refresh_claims.get("sid"))


def sign_out(access_claims: dict[str, Any]) -> None:
    revocations = token_verifier().revocations
    if revocations is None:
        return
    revocations.revoke_token(access_claims["jti"], float(access_claims["exp"]))
    if access_claims.get("sid"):
        revocations.revoke_session(access_claims["sid"], float(access_claims["exp"]) + 14 * 86400)


def change_password(account_id: int, current: str, new: str, keep_sid: str | None) -> None:
    account = db.session.get(Account, account_id)
    if account is None or account.disabled:
        raise Problem(401, "The account no longer exists.")
    if not verify_password(account.password_hash, current):
        raise ValidationProblem([{"field": "current_password", "message": "is not correct"}])
    errors: list[dict[str, str]] = []
    check_password(new, errors, "new_password")
    if errors:
        raise ValidationProblem(errors)
    account.password_hash = hash_password(new)
    db.session.commit()
