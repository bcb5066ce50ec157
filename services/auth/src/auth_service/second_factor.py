"""Two-factor login and its management: the second step, enrolment, turning it off.

`POST /auth/login` answers an account with TOTP on with a short-lived second-step token
(a JWT of type `mfa`, usable only at `POST /auth/login/totp`) instead of a token pair.
Wrong codes count like wrong passwords (the login throttle, per account and address);
the tokens of a login made with a code say so in `amr` (["pwd", "otp"]).
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Blueprint, Response, current_app, jsonify, request

from auth_service import login_sessions, throttle, totp
from auth_service.accounts import require_password, signed_in_account
from auth_service.extensions import db
from auth_service.mail import queue_mail
from auth_service.models import Account
from auth_service.schemas import SecondFactor, TotpCode, TotpRemoval, parse
from auth_service.tokens import sign, token_response
from shared.auth import require_auth, token_verifier
from shared.problems import Problem, ValidationProblem
from shared.redis_store import get_redis
from shared.requests_json import json_object
from shared.tokens import InvalidToken, RevocationUnavailable

bp = Blueprint("second_factor", __name__)
log = logging.getLogger(__name__)

MFA_TYPE = "mfa"
WRONG_CODE = "The code is not correct, or was used already."


def second_step(account: Account) -> dict[str, Any]:
    """What a correct password earns an account with TOTP on: a token for the second step."""
    lifetime = current_app.config["MFA_TOKEN_SECONDS"]
    client_id = current_app.config["FIRST_PARTY_CLIENT_ID"]
    token = sign({"sub": str(account.id), "type": MFA_TYPE, "client_id": client_id}, lifetime)
    return {
        "mfa_required": True,
        "mfa_token": token,
        "mfa_methods": ["totp", "recovery_code"],
        "expires_in": lifetime,
    }


@bp.post("/login/totp")
def login_totp() -> tuple[Response, int]:
    fields = parse(SecondFactor, json_object())
    pair = finish_login(fields.mfa_token, fields.code, request.remote_addr or "unknown")
    return token_response(pair)


def finish_login(mfa_token: str, code: str, address: str) -> dict[str, Any]:
    """Check the second step (throttled like a password) and start the login session.

    The API and the hosted login page's second form both come here.
    """
    try:
        claims = token_verifier().verify(mfa_token, MFA_TYPE)
    except (InvalidToken, RevocationUnavailable) as exc:
        raise Problem(401, "The sign-in step has expired; log in again.") from exc
    account = db.session.get(Account, int(claims["sub"]))
    if account is None or account.disabled or not account.totp_enabled:
        raise Problem(401, "The sign-in step has expired; log in again.")
    key = f"totp:{account.id}"
    throttle.check(key, address)
    method = totp.use_second_factor(account, code)
    if method is None:
        throttle.record_failure(key, address)
        raise Problem(401, WRONG_CODE)
    throttle.record_success(key, address)
    _use_once(claims)
    if method == "recovery":
        _notify(account, "a recovery code was used", "a recovery code was used to sign in")
    return login_sessions.start_session(account, amr=["pwd", "otp"])


def _use_once(claims: dict[str, Any]) -> None:
    try:
        fresh = get_redis().set(f"mfa:used:{claims['jti']}", 1, ex=600, nx=True)
    except (redis.RedisError, OSError, RuntimeError) as exc:
        raise Problem(503, "Login is unavailable right now; try again shortly.") from exc
    if not fresh:
        raise Problem(401, "This sign-in step was used already; log in again.")


def _notify(account: Account, subject: str, what: str) -> None:
    queue_mail(
        account,
        "two_factor",
        subject,
        f"Hello {account.username},\n\n{what} on your account.\n\n"
        "If that was not you, change your password now.",
    )
    db.session.commit()


@bp.get("/me/totp")
@require_auth
def status() -> Response:
    account = signed_in_account()
    return jsonify({"enabled": bool(account.totp_enabled)})


@bp.post("/me/totp")
@require_auth
def enrol() -> Response:
    account = signed_in_account()
    if account.totp_enabled:
        raise Problem(409, "Two-factor login is on already; turn it off first.")
    return jsonify(totp.begin_enrolment(account))


@bp.post("/me/totp/confirm")
@require_auth
def confirm() -> Response:
    return jsonify({"recovery_codes": confirm_enrolment(signed_in_account(), json_object())})


def confirm_enrolment(account: Account, body: dict[str, Any]) -> list[str]:
    """Turn 2FA on with a code from the new secret (422 on `code`); the recovery codes."""
    code = parse(TotpCode, body).code
    codes = totp.confirm_enrolment(account, code)
    if codes is None:
        raise ValidationProblem([{"field": "code", "message": WRONG_CODE}])
    _notify(account, "two-factor login is on", "two-factor login was turned on")
    log.info("two-factor login on", extra={"account_id": account.id})
    return codes


@bp.delete("/me/totp")
@require_auth
def disable() -> tuple[str, int]:
    turn_off(signed_in_account(), json_object())
    return "", 204


def turn_off(account: Account, body: dict[str, Any]) -> None:
    """2FA off: needs the password and a code (TOTP or recovery)."""
    fields = parse(TotpRemoval, body)
    require_password(account, fields.password)
    if not account.totp_enabled:
        raise Problem(409, "Two-factor login is off already.")
    if totp.use_second_factor(account, fields.code) is None:
        raise ValidationProblem([{"field": "code", "message": WRONG_CODE}])
    totp.remove(account)
    db.session.commit()
    _notify(account, "two-factor login is off", "two-factor login was turned off")
    log.info("two-factor login off", extra={"account_id": account.id})
