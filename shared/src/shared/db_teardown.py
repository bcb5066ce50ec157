"""Ending a request's database session without turning a finished answer into a 500."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from flask import Flask

log = logging.getLogger(__name__)


def init_session_teardown(app: Flask, db: Any) -> None:
    """Call after `db.init_app(app)` (Flask-SQLAlchemy), so this runs before its teardown.

    Flask-SQLAlchemy removes the request's session at teardown, which rolls back on the
    connection. When the database went away after the answer was computed (a restart, a
    failover), that rollback raises after Flask's error handlers are done, and gunicorn
    answers 500 for a request that had succeeded. Here the broken session is discarded
    instead (the pool's pre-ping replaces its connection) and the answer stands.
    """

    @app.teardown_appcontext
    def end_session(exc: BaseException | None) -> None:
        try:
            db.session.remove()
        except Exception as error:  # the answer is already made; only the connection is lost
            log.warning("database session could not be ended: %s", type(error).__name__)
            with contextlib.suppress(Exception):
                db.session.invalidate()
            db.session.registry.clear()
