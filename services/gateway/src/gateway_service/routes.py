"""The routing table: a path prefix goes to one upstream service."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, request

from gateway_service.config import parse_routes
from gateway_service.proxy import forward
from shared.http_client import ServiceClient

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def upstream_clients(app: Flask) -> dict[str, ServiceClient]:
    clients = {}
    for _, name in parse_routes(app.config["GATEWAY_ROUTES"]):
        url = app.config.get(f"{name.upper()}_SERVICE_URL")
        if not url:
            raise RuntimeError(f"route to {name!r} needs {name.upper()}_SERVICE_URL")
        clients[name] = ServiceClient(
            url, app.config["UPSTREAM_CONNECT_TIMEOUT"], app.config["UPSTREAM_READ_TIMEOUT"]
        )
    return clients


def routing_blueprint(app: Flask) -> Blueprint:
    bp = Blueprint("routes", __name__)
    for prefix, name in parse_routes(app.config["GATEWAY_ROUTES"]):
        view = _proxy_view(name)
        bp.add_url_rule(prefix, f"proxy_{name}_root", view, methods=METHODS)
        bp.add_url_rule(f"{prefix}/<path:rest>", f"proxy_{name}", view, methods=METHODS)
    return bp


def _proxy_view(name: str):
    def view(rest: str = "") -> Response:
        client = current_app.extensions["upstreams"][name]
        return forward(client, name, request.remote_addr or "")

    view.__name__ = f"proxy_{name}"
    return view


def upstream_ready(client: ServiceClient):
    """A readiness check that asks the upstream's own /readyz (its database and Redis)."""

    def check() -> None:
        response = client.get("/readyz", timeout=(client.timeout[0], 2.0))
        response.close()
        if response.status_code != 200:
            raise RuntimeError(f"upstream answered {response.status_code}")

    return check
