"""The `flask db` commands the app offers, though building it loads no migration tools."""

from __future__ import annotations

import sqlalchemy
from flask import Flask

from auth_service.extensions import db


def test_the_flask_db_commands_downgrade_and_upgrade_the_database(app: Flask) -> None:
    """The `db` commands are still the app's: the stand-in hands over to Flask-Migrate."""
    runner = app.test_cli_runner()

    def tables() -> set[str]:
        with app.app_context():
            return set(sqlalchemy.inspect(db.engine).get_table_names())

    assert runner.invoke(args=["db", "downgrade", "base"]).exit_code == 0
    assert "accounts" not in tables()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    assert {"accounts", "sessions", "oauth_clients"} <= tables()
