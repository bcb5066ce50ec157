"""Administration of accounts: list, read, and change roles or the disabled flag."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, jsonify
from sqlalchemy import String, cast, func

from auth_service import totp
from auth_service.extensions import db
from auth_service.login_sessions import revoke_all_tokens, revoke_other_sessions
from auth_service.mail import queue_mail
from auth_service.models import Account
from auth_service.outbox import record_event
from auth_service.schemas import AccountUpdate, parse
from shared.auth import authenticate
from shared.conditional import conditional_json, digest_etag, require_fresh
from shared.paging import page_request, paging_headers
from shared.problems import Problem
from shared.requests_json import json_object

bp = Blueprint("admin", __name__)
log = logging.getLogger(__name__)

SORTABLE = {"id": Account.id, "username": Account.username_key, "created_at": Account.created_at}
F = TypeVar("F", bound=Callable[..., Any])


def require_admin(view: F) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not authenticate().is_admin:
            raise Problem(403, "Only an administrator may do this.")
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@bp.get("/accounts")
@require_admin
def list_accounts() -> Response:
    paging = page_request(tuple(SORTABLE), default_sort="id")
    column = SORTABLE[paging.sort_field]
    # The id breaks ties, so a page boundary never splits equal keys unpredictably.
    order = (column.desc(), Account.id.desc()) if paging.descending else (column, Account.id)
    total = db.session.execute(db.select(func.count(Account.id))).scalar_one()
    accounts = db.session.execute(
        db.select(Account).order_by(*order).limit(paging.per_page).offset(paging.offset)
    ).scalars()
    response = jsonify([a.to_admin() for a in accounts])
    response.headers.update(paging_headers(paging, total))
    return response


def _account_or_404(account_id: int) -> Account:
    account = db.session.get(Account, account_id)
    if account is None:
        raise Problem(404, f"No account {account_id}.")
    return account


def keep_another_admin(leaving_id: int) -> None:
    """409 unless an enabled admin other than `leaving_id` remains: never none at all.

    The admins' rows stay locked until the change commits (PostgreSQL), so two admins
    demoting each other at once cannot both succeed.
    """
    maybe_admins = db.session.execute(
        db.select(Account)
        .where(Account.disabled.is_(False), cast(Account.roles, String).like('%"admin"%'))
        .with_for_update()
    ).scalars()
    if not any(a.id != leaving_id and "admin" in (a.roles or []) for a in maybe_admins):
        raise Problem(
            409,
            "This is the last enabled administrator; make another account an admin first.",
        )


@bp.get("/accounts/<int:account_id>")
@require_admin
def get_account(account_id: int) -> Response:
    return conditional_json(_account_or_404(account_id).to_admin())


@bp.patch("/accounts/<int:account_id>")
@require_admin
def update_account(account_id: int) -> Response:
    account = _account_or_404(account_id)
    require_fresh([digest_etag(account.to_admin())])
    changes = parse(AccountUpdate, json_object()).model_dump(exclude_unset=True)
    roles = sorted(set(changes.get("roles", account.roles or [])))
    disabled = changes.get("disabled", bool(account.disabled))
    was_admin = "admin" in (account.roles or []) and not account.disabled
    if was_admin and ("admin" not in roles or disabled):
        keep_another_admin(account.id)
    roles_changed = roles != sorted(account.roles or [])
    newly_disabled = disabled and not account.disabled
    if roles_changed or disabled != account.disabled:
        account.roles, account.disabled = roles, disabled
        record_event("account.updated", account)
        db.session.commit()
        if newly_disabled:
            # Everything the account holds stops working, whatever its session.
            revoke_all_tokens(account.id)
        elif roles_changed:
            # Tokens carry the roles: its sessions end, and the next login carries the new
            # ones (per session, so a login in the same second is not caught by the mark).
            revoke_other_sessions(account.id, keep_sid=None)
        log.info(
            "account updated by an admin",
            extra={"account_id": account.id, "roles": roles, "disabled": disabled},
        )
    return conditional_json(account.to_admin())


@bp.delete("/accounts/<int:account_id>/totp")
@require_admin
def reset_totp(account_id: int) -> tuple[str, int]:
    """Turn two-factor login off for a locked-out user (who is told by mail)."""
    account = _account_or_404(account_id)
    totp.remove(account)
    queue_mail(
        account,
        "two_factor",
        "two-factor login was reset",
        f"Hello {account.username},\n\nan administrator turned two-factor login off for your "
        "account. Turn it on again on the security page once you can.",
    )
    db.session.commit()
    log.info("two-factor login reset by an admin", extra={"account_id": account.id})
    return "", 204
