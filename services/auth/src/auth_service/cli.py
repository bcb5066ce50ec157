"""Command-line commands: `flask --app auth_service create-admin`, `rotate-keys`, `rekey-totp`."""

from __future__ import annotations

import click
from flask import Flask, current_app

from auth_service import keys, totp
from auth_service.bootstrap import admin_problems, ensure_admin
from auth_service.extensions import db
from auth_service.models import Account
from auth_service.tokens import key_store


def init_app(app: Flask) -> None:
    @app.cli.command("create-admin")
    @click.option("--username", required=True)
    @click.option("--email", required=True)
    @click.password_option()
    def create_admin(username: str, email: str, password: str) -> None:
        """Create an account with the admin role (or make an existing one admin)."""
        problems = admin_problems(username, email, password)
        if problems:
            raise click.ClickException("; ".join(problems))
        account = ensure_admin(username, email, password)
        click.echo(f"admin account {account.username} (id {account.id}) is ready")

    @app.cli.command("rotate-keys")
    def rotate_keys() -> None:
        """Add a new signing key and delete retired keys.

        The new key is in the JWKS within JWT_KEYS_RELOAD_SECONDS and signs after
        JWT_KEY_ACTIVATION_SECONDS, once every verifier can have fetched it; older keys stay
        in the JWKS until every token they signed has expired.
        """
        store = key_store()
        if store.directory is None:
            raise click.ClickException(
                "rotation needs a key folder (JWT_KEYS_DIR); a key from JWT_PRIVATE_KEY is fixed"
            )
        current, removed = keys.rotate(store.directory, store.retire_after, store.activation_delay)
        click.echo(
            f"new signing key {current.kid} in {store.directory}; "
            f"published now, signs in {store.activation_delay:g} s"
        )
        for path in removed:
            click.echo(f"retired key file removed: {path.name}")
        current_app.logger.info("signing key rotated", extra={"kid": current.kid})

    @app.cli.command("rekey-totp")
    def rekey_totp() -> None:
        """Re-encrypt every TOTP secret under TOTP_ENCRYPTION_KEY.

        Afterwards TOTP_ENCRYPTION_OLD_KEYS is needed only for recovery codes made under an
        old key (their HMAC cannot be redone without the codes).
        """
        enrolled = db.session.execute(
            db.select(Account).where(Account.totp_secret.is_not(None))
        ).scalars()
        moved = unreadable = 0
        for account in enrolled:
            if totp.reencrypt(account):
                moved += 1
            elif not totp.readable(account):
                unreadable += 1
        db.session.commit()
        click.echo(f"{moved} TOTP secrets re-encrypted under the current key")
        if unreadable:
            click.echo(f"{unreadable} TOTP secrets are under no configured key", err=True)
