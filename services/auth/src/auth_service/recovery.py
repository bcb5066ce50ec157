"""Password reset by mail: ask with an address, choose a new password with the mailed link.

Asking always gets the same 202, whether or not the address has an account, as fast either
way: the look-up and the mail happen after the answer is sent. Only the account holding the
address (addresses.py) gets the mail, at most one per MAIL_THROTTLE_SECONDS. Resetting
redeems the link once, within PASSWORD_RESET_TOKEN_MINUTES; it ends every session of the
account, retires every other mailed link, marks the address verified (the link proved it)
and mails a notice.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, Response, after_this_request, current_app
from sqlalchemy.exc import IntegrityError

from auth_service import account_tokens, addresses
from auth_service.extensions import db
from auth_service.login_sessions import revoke_other_sessions
from auth_service.mail import mail_password_changed, mail_password_reset, throttled
from auth_service.models import Account
from auth_service.outbox import outbox_relay
from auth_service.passwords import hash_password
from auth_service.schemas import PasswordForgotten, PasswordReset, parse
from auth_service.smtp import MAIL_CHANNEL
from shared.problems import ValidationProblem
from shared.requests_json import json_object

bp = Blueprint("recovery", __name__)
log = logging.getLogger(__name__)

INVALID_LINK = "This link is not valid: it was used already, has expired or was replaced."


@bp.post("/password/forgot")
def forgot() -> tuple[str, int]:
    request_reset(parse(PasswordForgotten, json_object()).email)
    return "", 202


def request_reset(address: str) -> None:
    """Mail a reset link if the address has an account, once the answer has gone.

    Looking the address up and writing a link in the request would make a known address
    answer measurably slower than an unknown one (in process, 128 against 29 ms median);
    done after the response is sent, every address costs the asker the same.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    @after_this_request
    def after_the_answer(response: Response) -> Response:
        response.call_on_close(lambda: _mail_reset_link(app, address))
        return response


def _mail_reset_link(app: Flask, address: str) -> None:
    with app.app_context():
        try:
            account = addresses.reset_holder(address)
            if account is not None and not account.disabled and not throttled(account, "reset"):
                mail_password_reset(account, account_tokens.issue_reset(account))
                db.session.commit()
                outbox_relay(MAIL_CHANNEL).wake()
        except Exception:  # no request is left to answer; the asker can ask again
            log.exception("could not write a password-reset mail")
        finally:
            db.session.remove()


@bp.post("/password/reset")
def reset() -> tuple[str, int]:
    fields = parse(PasswordReset, json_object())
    reset_password(fields.token, fields.new_password)
    return "", 204


def reset_password(secret: str, new_password: str) -> Account:
    """Set a new password with a mailed link (422 on `token` when it does not work)."""
    token = account_tokens.redeem(secret, (account_tokens.RESET,))
    account = db.session.get(Account, token.account_id) if token else None
    if (
        token is None
        or account is None
        or account.disabled
        or not addresses.may_claim(account, token.email)
    ):
        db.session.rollback()
        raise ValidationProblem([{"field": "token", "message": INVALID_LINK}])
    account.password_hash = hash_password(new_password)
    addresses.claim(account, token.email)
    account_tokens.retire(account.id)
    mail_password_changed(account)
    try:
        db.session.commit()
    except IntegrityError as exc:  # another account verified the address a moment ago
        db.session.rollback()
        raise ValidationProblem([{"field": "token", "message": INVALID_LINK}]) from exc
    # Whoever holds a session may be the reason for the reset: every one of them ends
    # (by session, not by an account-wide instant: a login just after must work).
    revoke_other_sessions(account.id, keep_sid=None)
    log.info("password reset by mail", extra={"account_id": account.id})
    return account
