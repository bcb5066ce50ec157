"""What the hosted pages do, as calls into auth's own account and session code.

The pages and the JSON API must behave alike (same rules, same throttling, same events,
same revocation), so this module only forwards to the functions the API views use.
"""

from __future__ import annotations

from typing import Any

from auth_service import (
    accounts,
    login_sessions,
    recovery,
    second_factor,
    sessions,
    totp,
    verification,
)
from auth_service.extensions import db
from auth_service.models import Account
from auth_service.schemas import PasswordChange, Register, parse
from shared.problems import Problem, ValidationProblem


def register(username: str, email: str, password: str) -> dict[str, object]:
    fields = {"username": username, "email": email, "password": password}
    return accounts.create_account(parse(Register, fields))


def sign_in(username: str, password: str, address: str) -> dict[str, Any]:
    return sessions.sign_in(username, password, address)


def refresh(refresh_claims: dict[str, Any]) -> dict[str, Any]:
    return login_sessions.refresh(refresh_claims)


def sign_out(claims: dict[str, Any]) -> None:
    sessions.sign_out(claims)


def change_password(account_id: int, current: str, new: str, keep_sid: str | None) -> None:
    account = db.session.get(Account, account_id)
    if account is None or account.disabled:
        raise Problem(401, "The account no longer exists.")
    try:
        fields = {"current_password": current, "new_password": new}
        accounts.set_password(account, parse(PasswordChange, fields), keep_sid)
    except Problem as problem:
        if problem.status != 401:
            raise
        # On the page, a wrong current password belongs beside its field.
        wrong = [{"field": "current_password", "message": "is not correct"}]
        raise ValidationProblem(wrong) from problem


def confirm_email(secret: str) -> Account:
    return verification.confirm_email(secret)


def request_reset(address: str) -> None:
    recovery.request_reset(address)


def reset_password(secret: str, new_password: str) -> Account:
    return recovery.reset_password(secret, new_password)


def account_of(account_id: int) -> Account:
    account = db.session.get(Account, account_id)
    if account is None or account.disabled:
        raise Problem(401, "The account no longer exists.")
    return account


def resend_verification(account: Account) -> None:
    verification.resend_verification(account)


def finish_login(mfa_token: str, code: str, address: str) -> dict[str, Any]:
    return second_factor.finish_login(mfa_token, code, address)


def begin_totp(account: Account) -> dict[str, str]:
    return totp.begin_enrolment(account)


def confirm_totp(account: Account, code: str) -> list[str]:
    return second_factor.confirm_enrolment(account, {"code": code})


def turn_off_totp(account: Account, password: str, code: str) -> None:
    try:
        second_factor.turn_off(account, {"password": password, "code": code})
    except Problem as problem:
        if problem.status != 401:
            raise
        raise ValidationProblem([{"field": "password", "message": "is not correct"}]) from problem


def current_totp(account: Account) -> dict[str, str]:
    return totp.pending_enrolment(account)
