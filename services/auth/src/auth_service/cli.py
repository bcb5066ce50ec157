"""Command-line commands: `flask --app auth_service create-admin` and key management."""

from __future__ import annotations

import click
from flask import Flask

from auth_service.extensions import db
from auth_service.models import Account
from auth_service.passwords import hash_password


def ensure_admin(username: str, email: str, password: str) -> Account:
    """Create the admin account if missing, or grant the admin role to an existing one."""
    key = username.lower()
    account = db.session.execute(
        db.select(Account).where(Account.username_key == key)
    ).scalar_one_or_none()
    if account is None:
        account = Account(
            username=username,
            username_key=key,
            email=email.strip().lower(),
            password_hash=hash_password(password),
            roles=["admin"],
        )
        db.session.add(account)
    elif "admin" not in (account.roles or []):
        account.roles = [*account.roles, "admin"]
    db.session.commit()
    return account


def init_app(app: Flask) -> None:
    @app.cli.command("create-admin")
    @click.option("--username", required=True)
    @click.option("--email", required=True)
    @click.password_option()
    def create_admin(username: str, email: str, password: str) -> None:
        """Create an account with the admin role (or make an existing one admin)."""
        account = ensure_admin(username, email, password)
        click.echo(f"admin account {account.username} (id {account.id}) is ready")
