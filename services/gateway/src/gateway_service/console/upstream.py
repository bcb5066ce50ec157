"""The console's calls to content and auth, with the viewer's token and the request id."""

from __future__ import annotations

from typing import Any

import requests
from flask import Flask, current_app

from gateway_service.console.session import SignInRequired, bearer
from shared.http_client import ServiceClient

_EXTENSION = "console_clients"


class Unavailable(Exception):
    """A service gave no usable answer; the page says so instead of failing."""

    def __init__(self, service: str) -> None:
        super().__init__(service)
        self.service = service


def init_clients(app: Flask) -> None:
    timeouts = (app.config["UPSTREAM_CONNECT_TIMEOUT"], app.config["UPSTREAM_READ_TIMEOUT"])
    app.extensions[_EXTENSION] = {
        "auth": ServiceClient(app.config["AUTH_SERVICE_URL"], *timeouts),
        "content": ServiceClient(app.config["CONTENT_SERVICE_URL"], *timeouts),
    }


def call(
    service: str,
    method: str,
    path: str,
    *,
    params: dict[str, Any] | None = None,
    json: Any = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    """One call as the viewer. 401 means the session ended: go and sign in again."""
    client: ServiceClient = current_app.extensions[_EXTENSION][service]
    try:
        response = client.request(
            method, path, params=params, json=json, headers={**bearer(), **(headers or {})}
        )
    except requests.RequestException as exc:
        raise Unavailable(service) from exc
    if response.status_code == 401:
        raise SignInRequired()
    if response.status_code >= 500:
        raise Unavailable(service)
    return response


def field_errors(response: requests.Response) -> list[dict[str, str]]:
    """The `errors` of a 422 problem document (empty for anything else)."""
    try:
        body = response.json()
    except ValueError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    return [e for e in errors or [] if isinstance(e, dict)]


def detail(response: requests.Response) -> str:
    try:
        return str(response.json().get("detail") or "")
    except (ValueError, AttributeError):
        return ""
