"""Wiring every service gets: logging, request ids, problem+json errors and metrics."""

from __future__ import annotations

from flask import Flask

from shared.logs import configure_logging
from shared.metrics import init_metrics
from shared.problems import init_problem_handlers
from shared.redis_store import init_redis
from shared.request_id import init_request_id


def init_service(app: Flask) -> None:
    config = app.config
    configure_logging(config["SERVICE_NAME"], config["LOG_LEVEL"], config["LOG_FORMAT"])
    init_request_id(app)
    init_metrics(app)
    init_problem_handlers(app)
    init_redis(app)
    app.json.sort_keys = False  # type: ignore[attr-defined]
