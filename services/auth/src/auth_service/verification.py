"""Confirming e-mail addresses: the link mailed at registration or for a new address, and resend.

`POST /auth/email/verify {token}` redeems either kind of link: a registration's marks the
address verified; an address change's moves the account to the new, now verified, address.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy.exc import IntegrityError

from auth_service import account_tokens, addresses
from auth_service.accounts import require_password, signed_in_account
from auth_service.extensions import db
from auth_service.mail import mail_email_change, mail_verification, throttled
from auth_service.models import Account
from auth_service.outbox import record_event
from auth_service.schemas import EmailChange, MailedToken, parse
from shared.auth import require_auth
from shared.problems import Problem, ValidationProblem
from shared.requests_json import json_object

bp = Blueprint("verification", __name__)
log = logging.getLogger(__name__)

INVALID_LINK = "This link is not valid: it was used already, has expired or was replaced."


@bp.post("/email/verify")
def verify() -> Response:
    return jsonify(confirm_email(parse(MailedToken, json_object()).token).to_public())


def confirm_email(secret: Any) -> Account:
    """Redeem a verification or address-change link (422 when it does not work).

    The API and the hosted verify page both come here.
    """
    token = account_tokens.redeem(secret, (account_tokens.VERIFY, account_tokens.EMAIL_CHANGE))
    account = db.session.get(Account, token.account_id) if token else None
    if token is None or account is None or account.disabled:
        db.session.rollback()
        raise ValidationProblem([{"field": "token", "message": INVALID_LINK}])
    if token.purpose == account_tokens.VERIFY and not addresses.may_claim(account, token.email):
        # Used up: the account no longer shows that address, or another verified it first.
        db.session.commit()
        raise ValidationProblem([{"field": "token", "message": INVALID_LINK}])
    moved = account.email != token.email
    addresses.claim(account, token.email)
    if moved:
        record_event("account.updated", account)
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise Problem(409, "That e-mail address now belongs to another account.") from exc
    log.info("e-mail address confirmed", extra={"account_id": account.id})
    return account


@bp.post("/email/verify/resend")
@require_auth
def resend() -> tuple[str, int]:
    resend_verification(signed_in_account())
    return "", 202


def resend_verification(account: Account) -> None:
    """Mail a fresh link (the earlier ones stop working); 409 when verified, 429 too soon.

    An account that may not claim its address is answered the same and sent nothing: the
    address belongs to someone else, who must not be mailed at will.
    """
    if account.email_verified:
        raise Problem(409, "This e-mail address is verified already.")
    wait = throttled(account, "verify")
    if wait:
        raise Problem(
            429,
            "A link was sent a moment ago; check your mail.",
            headers={"Retry-After": str(wait)},
        )
    if addresses.may_claim(account, account.email):
        mail_verification(account, account_tokens.issue_verification(account))
        db.session.commit()


@bp.put("/me/email")
@require_auth
def change_email() -> tuple[str, int]:
    fields = parse(EmailChange, json_object())
    request_email_change(signed_in_account(), fields.new_email, fields.password)
    return "", 202


def request_email_change(account: Account, new_email: str, password: str) -> None:
    """Mail a confirmation link to the new address and a notice to the current one.

    The account keeps its address until the link is opened. An address another account
    verified gets the same answer and no link, so this tells nobody who has one.
    """
    require_password(account, password)
    address = addresses.normal(new_email)
    if address == account.email:
        raise ValidationProblem([{"field": "new_email", "message": "is your address already"}])
    # Only a verified holder keeps the address from others; until then whoever follows a
    # link mailed there first gets it (addresses.py).
    if addresses.verified_holder(address) is None:
        secret = account_tokens.issue(
            account,
            account_tokens.EMAIL_CHANGE,
            current_app.config["EMAIL_TOKEN_MINUTES"] * 60,
            email=address,
        )
        mail_email_change(account, address, secret)
    db.session.commit()
    log.info("e-mail change asked", extra={"account_id": account.id})
