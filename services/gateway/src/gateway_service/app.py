"""The Flask app of what the gateway answers itself (health, readiness, /me, the console,
the API documents, metrics), built by gateway_service.create_app."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask

from gateway_service import console, me, openapi
from gateway_service.config import load_config, parse_routes
from shared.health import health_blueprint
from shared.http_client import ServiceClient
from shared.http_semantics import init_http_semantics
from shared.ids import init_id_converter
from shared.logs import configure_logging
from shared.metrics import metrics_view
from shared.problems import init_problem_handlers
from shared.redis_store import init_redis
from shared.request_id import init_request_id
from shared.service import ServiceFlask


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = ServiceFlask(__name__)
    app.config.update(load_config(config))
    settings = app.config
    configure_logging(settings["SERVICE_NAME"], settings["LOG_LEVEL"], settings["LOG_FORMAT"])
    init_id_converter(app)
    # Answers about the caller (/me, the console) are no-store and Vary: Cookie; no
    # redirect from Host. Relayed 204/304 keep what the edge decides.
    init_http_semantics(app, relays=True)
    # The edge logs, counts and stamps every answer; Flask only keeps its request id.
    init_request_id(app, log_requests=False)
    init_problem_handlers(app)
    init_redis(app)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.add_url_rule("/metrics", "metrics", metrics_view)

    timeouts = (settings["UPSTREAM_CONNECT_TIMEOUT"], settings["UPSTREAM_READ_TIMEOUT"])
    services = {
        name: ServiceClient(_service_url(settings, name), *timeouts)
        for _, name in parse_routes(settings["GATEWAY_ROUTES"])
    }
    app.extensions["services"] = services
    app.extensions["prefixes"] = _route_prefixes(settings["GATEWAY_ROUTES"])
    app.extensions["me_executor"] = ThreadPoolExecutor(max_workers=16, thread_name_prefix="me")
    app.register_blueprint(
        health_blueprint({name: _ready_check(client) for name, client in services.items()})
    )
    app.register_blueprint(me.bp)
    openapi.init_openapi(app)
    console.init_app(app)
    return app


def _service_url(config: Mapping[str, Any], name: str) -> str:
    url = config.get(f"{name.upper()}_SERVICE_URL")
    if not url:
        raise RuntimeError(f"route to {name!r} needs {name.upper()}_SERVICE_URL")
    return str(url)


def _route_prefixes(spec: str) -> dict[str, list[str]]:
    prefixes: dict[str, list[str]] = {}
    for prefix, name in parse_routes(spec):
        prefixes.setdefault(name, []).append(prefix)
    return prefixes


def _ready_check(client: ServiceClient) -> Any:
    """A readiness check that asks the service's own /readyz (its database and Redis)."""

    def check() -> None:
        try:
            status = client.get("/readyz", timeout=2.0).status_code
        except Exception as exc:  # requests' errors: the service did not answer
            raise RuntimeError(f"{type(exc).__name__}") from exc
        if status != 200:
            raise RuntimeError(f"upstream answered {status}")

    return check
