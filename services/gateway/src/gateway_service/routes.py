"""The routing table: a path prefix goes to one upstream service."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Flask, Response, current_app

from gateway_service.config import parse_routes
from gateway_service.fast_path import Route
from gateway_service.proxy import forward
from gateway_service.upstream import Upstream, UpstreamError

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def build_upstreams(app: Flask) -> dict[str, Upstream]:
    config = app.config
    upstreams = {}
    for _, name in parse_routes(config["GATEWAY_ROUTES"]):
        url = config.get(f"{name.upper()}_SERVICE_URL")
        if not url:
            raise RuntimeError(f"route to {name!r} needs {name.upper()}_SERVICE_URL")
        upstreams[name] = Upstream(
            name,
            url,
            connect_timeout=config["UPSTREAM_CONNECT_TIMEOUT"],
            read_timeout=config["UPSTREAM_READ_TIMEOUT"],
            pool_size=config["UPSTREAM_POOL_SIZE"],
            max_in_flight=config["UPSTREAM_MAX_IN_FLIGHT"],
            max_in_flight_on_loop=config["UPSTREAM_MAX_IN_FLIGHT_ON_LOOP"],
            failure_threshold=config["CIRCUIT_FAILURE_THRESHOLD"],
            reset_seconds=config["CIRCUIT_RESET_SECONDS"],
        )
    return upstreams


def route_prefixes(app: Flask) -> dict[str, list[str]]:
    prefixes: dict[str, list[str]] = {}
    for prefix, name in parse_routes(app.config["GATEWAY_ROUTES"]):
        prefixes.setdefault(name, []).append(prefix)
    return prefixes


def routing_blueprint(app: Flask) -> tuple[Blueprint, set[str]]:
    """The proxy routes, and their endpoint names (the edge checks tokens on those)."""
    bp = Blueprint("routes", __name__)
    endpoints = set()
    for prefix, name in parse_routes(app.config["GATEWAY_ROUTES"]):
        view = _proxy_view(name)
        bp.add_url_rule(prefix, f"proxy_{name}_root", view, methods=METHODS)
        bp.add_url_rule(_subpath_rule(prefix), f"proxy_{name}", view, methods=METHODS)
        endpoints |= {f"{bp.name}.proxy_{name}_root", f"{bp.name}.proxy_{name}"}
    return bp, endpoints


def fast_path_routes(app: Flask) -> list[Route]:
    """The same routes for the fast path, under the Flask endpoint and rule each matches."""
    upstreams = app.extensions["upstreams"]
    return [
        Route(f"{prefix}/", upstreams[name], f"routes.proxy_{name}", _subpath_rule(prefix))
        for prefix, name in parse_routes(app.config["GATEWAY_ROUTES"])
    ]


def _subpath_rule(prefix: str) -> str:
    return f"{prefix}/<path:rest>"


def _proxy_view(name: str) -> Callable[..., Response]:
    def view(rest: str = "") -> Response:
        return forward(current_app.extensions["upstreams"][name])

    view.__name__ = f"proxy_{name}"
    return view


def upstream_ready(upstream: Upstream) -> Callable[[], None]:
    """A readiness check that asks the upstream's own /readyz (its database and Redis)."""

    def check() -> None:
        try:
            status = upstream.probe("/readyz")
        except UpstreamError as exc:
            raise RuntimeError(exc.detail) from exc
        if status != 200:
            raise RuntimeError(f"upstream answered {status}")

    return check
