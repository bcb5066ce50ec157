"""Wiring every service gets: logging, request ids, HTTP rules, problem+json errors, metrics."""

from __future__ import annotations

from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from shared.http_semantics import init_http_semantics
from shared.ids import init_id_converter
from shared.logs import configure_logging
from shared.metrics import init_metrics
from shared.problems import init_problem_handlers
from shared.redis_store import init_redis
from shared.request_id import init_request_id


def init_service(app: Flask, relays: bool = False) -> None:
    config = app.config
    configure_logging(config["SERVICE_NAME"], config["LOG_LEVEL"], config["LOG_FORMAT"])
    init_id_converter(app)
    init_http_semantics(app, relays)
    init_request_id(app)
    init_metrics(app)
    init_problem_handlers(app)
    init_redis(app)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    # Each service signs its session cookie with its own key, derived from SECRET_KEY with
    # the service's name: one service's cookie is worthless to another even when a
    # deployment gives them the same SECRET_KEY.
    app.session_interface = ServiceSessions(config["SERVICE_NAME"])


class ServiceSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions with a salt (so a derived key) of the service's own."""

    def __init__(self, service: str) -> None:
        self.salt = f"{service}-session"
