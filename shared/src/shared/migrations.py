"""`flask db ...` (Flask-Migrate) for a service, loaded when a migration runs.

Flask-Migrate imports alembic, about 12 MiB resident in every process that imports it, and
a served worker never migrates: migrations run from the command line (`flask --app <service>
db upgrade`, as `make migrate`, `make up` and the images' entrypoints do) or from tests. So
create_app registers a stand-in for the `db` group, and Flask-Migrate is bound to the app
only when one of its commands is resolved, or when a caller asks for it with
bind_migrations().
"""

from __future__ import annotations

from functools import partial
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup

COMMAND = "db"


def init_migrations(app: Flask, db: Any) -> None:
    """Give the app its `flask db` commands; migrations live in app.config['MIGRATIONS_DIR']."""
    app.cli.add_command(_MigrationCommands(partial(bind_migrations, app, db)), COMMAND)


def bind_migrations(app: Flask, db: Any) -> click.Group:
    """Bind Flask-Migrate to the app, as its init_app does, and return its `db` group.

    From then on flask_migrate's functions (upgrade(), downgrade()) work in the app's context.
    """
    from flask_migrate import Migrate  # here, not at the top: only where migrations run

    Migrate(app, db, directory=app.config["MIGRATIONS_DIR"], command=COMMAND)
    command = app.cli.commands[COMMAND]  # Flask-Migrate's group replaced the stand-in
    assert isinstance(command, click.Group)
    return command


class _MigrationCommands(AppGroup):
    """Stands in for Flask-Migrate's `db` group in the app's command list; `flask --help`
    shows it without importing anything. Used, it hands over to the real group, with all
    of that group's own options."""

    def __init__(self, bind: partial[click.Group]) -> None:
        super().__init__(COMMAND, help="Perform database migrations.")
        self._bind = bind

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        # click invokes the context's command: from here on it is Flask-Migrate's group.
        return self._bind().make_context(info_name, args, parent=parent, **extra)
