"""The gateway: the one door for clients in front of auth and content."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask

from gateway_service import console, cors, edge_auth, limits, me, openapi
from gateway_service.config import load_config
from gateway_service.fast_path import FastPath
from gateway_service.routes import (
    build_upstreams,
    fast_path_routes,
    route_prefixes,
    routing_blueprint,
    upstream_ready,
)
from shared.health import health_blueprint
from shared.service import init_service


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(load_config(config))
    init_service(app, relays=True)
    upstreams = build_upstreams(app)
    app.extensions["upstreams"] = upstreams
    app.extensions["prefixes"] = route_prefixes(app)
    app.extensions["me_executor"] = ThreadPoolExecutor(max_workers=16, thread_name_prefix="me")

    app.register_blueprint(
        health_blueprint({name: upstream_ready(u) for name, u in upstreams.items()})
    )
    routes, guarded = routing_blueprint(app)
    app.register_blueprint(routes)
    app.register_blueprint(me.bp)
    openapi.init_openapi(app)

    # The order of these hooks is the order of the checks on every request:
    # preflight answered, token verified, rate limit counted, bad token refused.
    app.before_request(cors.answer_preflight)
    edge_auth.init_edge_auth(app, guarded | {"me.me"})
    app.before_request(edge_auth.verify_edge_token)
    limits.init_limits(app)
    app.before_request(edge_auth.reject_bad_token)
    cors.init_cors(app)
    console.init_app(app)
    if app.config["GATEWAY_FAST_PATH"]:
        app.wsgi_app = FastPath(app, app.wsgi_app, fast_path_routes(app))  # type: ignore[method-assign]
    return app
