"""Liveness and readiness endpoints: /healthz says the process lives, /readyz checks its deps."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from flask import Blueprint, Flask, Response, jsonify

from shared.problems import problem_response

log = logging.getLogger(__name__)

Check = Callable[[], None]  # raises when the dependency is not usable


def health_blueprint(checks: Mapping[str, Check]) -> Blueprint:
    bp = Blueprint("health", __name__)

    @bp.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    @bp.get("/readyz")
    def readyz() -> tuple[Response, int]:
        results = {}
        for name, check in checks.items():
            try:
                check()
                results[name] = "ok"
            except Exception as exc:
                log.warning("readiness check %s failed: %s", name, type(exc).__name__)
                results[name] = "unavailable"
        ready = all(v == "ok" for v in results.values())
        failing = [name for name, v in results.items() if v != "ok"]
        body = {"status": "ready" if ready else "unavailable", "checks": results}
        if not ready:
            body["detail"] = "not ready: " + ", ".join(failing)
        return jsonify(body), 200 if ready else 503

    return bp


def database_check(db) -> Check:
    """A SELECT 1 through the service's SQLAlchemy handle."""
    from sqlalchemy import text

    def check() -> None:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    return check


def init_database_errors(app: Flask) -> None:
    """A database that cannot be reached (restarting, failing over, pool exhausted) is a 503
    with Retry-After, like any other dependency that is down, not an unexpected 500."""
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    def unavailable(exc: Exception) -> Response:
        log.warning("database unavailable: %s", type(exc.__cause__ or exc).__name__)
        return problem_response(
            503, "The database is unavailable; try again shortly.", headers={"Retry-After": "2"}
        )

    app.register_error_handler(OperationalError, unavailable)
    app.register_error_handler(PoolTimeout, unavailable)


def redis_check(get_redis: Callable[[], object]) -> Check:
    def check() -> None:
        get_redis().ping()  # type: ignore[attr-defined]

    return check
