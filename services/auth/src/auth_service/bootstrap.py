"""The admin account from the environment, and the same for `flask create-admin`."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask
from sqlalchemy.exc import IntegrityError

from auth_service import addresses
from auth_service.extensions import db
from auth_service.models import Account
from auth_service.outbox import record_event
from auth_service.passwords import hash_password
from auth_service.schemas import Register, field_problem
from shared.config import ConfigError

log = logging.getLogger(__name__)


def admin_problems(username: str, email: str, password: str) -> list[str]:
    values = {"username": username, "email": email, "password": password}
    problems = {field: field_problem(Register, field, value) for field, value in values.items()}
    return [f"{field} {problem}" for field, problem in problems.items() if problem]


def ensure_admin(username: str, email: str, password: str) -> Account:
    """Create the admin account if missing, or grant the admin role to an existing one.

    Safe when several workers run it at once: the loser of the insert race sees the
    unique constraint fail, rolls back and finds the winner's row.
    """
    for _ in range(2):
        account = db.session.execute(
            db.select(Account).where(Account.username_key == username.lower())
        ).scalar_one_or_none()
        try:
            if account is None:
                account = Account(
                    username=username,
                    username_key=username.lower(),
                    email=email.strip().lower(),
                    password_hash=hash_password(password),
                    roles=["admin"],
                )
                db.session.add(account)
                db.session.flush()
                addresses.claim(account, email)  # the operator vouches for the address
                db.session.flush()
                record_event("account.created", account)
            elif "admin" not in (account.roles or []):
                account.roles = [*account.roles, "admin"]
                record_event("account.updated", account)
            db.session.commit()
            return account
        except IntegrityError:
            db.session.rollback()
    raise ConfigError(f"could not create the admin account {username!r}: email already taken")


def check_bootstrap_settings(app: Flask) -> None:
    """At start: a bootstrap admin with a weak password must not be created at all."""
    config = app.config
    values = [config.get(f"BOOTSTRAP_ADMIN_{name}") for name in ("USERNAME", "EMAIL", "PASSWORD")]
    if not any(values):
        return
    if not all(values):
        raise ConfigError("set all of BOOTSTRAP_ADMIN_USERNAME, _EMAIL and _PASSWORD, or none")
    problems = admin_problems(*values)  # type: ignore[arg-type]
    if problems:
        raise ConfigError("bootstrap admin refused: " + "; ".join(problems))


def init_bootstrap(app: Flask, on_first_request: list[Callable[[], None]]) -> None:
    check_bootstrap_settings(app)
    username = app.config.get("BOOTSTRAP_ADMIN_USERNAME")
    if not username:
        return

    def bootstrap_admin() -> None:
        ensure_admin(
            username, app.config["BOOTSTRAP_ADMIN_EMAIL"], app.config["BOOTSTRAP_ADMIN_PASSWORD"]
        )
        log.info("bootstrap admin %s is ready", username)

    on_first_request.append(bootstrap_admin)
