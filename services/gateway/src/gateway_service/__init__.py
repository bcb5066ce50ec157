"""The gateway: the one door for clients in front of auth and content."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from gateway_service import console
from gateway_service.config import load_config
from gateway_service.routes import routing_blueprint, upstream_clients, upstream_ready
from shared.health import health_blueprint
from shared.service import init_service


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(load_config(config))
    init_service(app)
    app.extensions["upstreams"] = upstream_clients(app)
    app.register_blueprint(
        health_blueprint(
            {name: upstream_ready(c) for name, c in app.extensions["upstreams"].items()}
        )
    )
    app.register_blueprint(routing_blueprint(app))
    console.init_app(app)
    return app
