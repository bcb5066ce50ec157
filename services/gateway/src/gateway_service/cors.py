"""CORS with flask-cors, strictly: exact origins, credentials, preflights answered here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Flask, Response, request
from flask_cors import CORS
from flask_cors.core import _ComputedCorsOptions, get_cors_headers, get_cors_options
from werkzeug.datastructures import EnvironHeaders

EXPOSED = [
    "X-Request-ID",
    "X-Total-Count",
    "Link",
    "ETag",
    "Location",
    "Retry-After",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
]
ALLOWED_REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
    "X-Request-ID",
]
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


def is_preflight() -> bool:
    return request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers


def answer_preflight() -> Response | None:
    """Preflights never reach a service nor need a token; flask-cors adds the headers."""
    if is_preflight():
        return Response(status=204)
    return None


def init_cors(app: Flask) -> None:
    # Registered before flask-cors so it runs after it (Flask runs these in reverse).
    app.after_request(vary_on_origin)
    # config.check_cors_origins already refused '*', 'null' and patterns.
    options: dict[str, Any] = {
        "origins": list(app.config["CORS_ORIGINS"]),
        "supports_credentials": True,
        "send_wildcard": False,
        "always_send": False,
        "max_age": app.config["CORS_MAX_AGE"],
        "expose_headers": EXPOSED,
        "allow_headers": ALLOWED_REQUEST_HEADERS,
        "methods": METHODS,
        "vary_header": True,
    }
    CORS(app, **options)
    # The same options resolved, for the fast path (which answers without Flask).
    app.extensions["gateway_cors"] = get_cors_options(app, options)


def cors_headers(
    options: _ComputedCorsOptions, environ: dict[str, Any], method: str
) -> list[tuple[str, str]]:
    """The headers flask-cors adds to an answer, for a request given as its WSGI environ."""
    headers = get_cors_headers(options, EnvironHeaders(environ), method)
    return [(name, str(value)) for name, value in headers.items(multi=True)]


def vary_on_origin(response: Response) -> Response:
    response.headers["Vary"] = merged_vary(response.headers.getlist("Vary"))
    return response


def merged_vary(values: Iterable[str]) -> str:
    """One Vary value that names Origin: every answer depends on it, and flask-cors adds
    its own only when several origins are configured (and then beside the upstream's)."""
    names: dict[str, str] = {}
    for value in values:
        for name in value.split(","):
            if name.strip():
                names.setdefault(name.strip().lower(), name.strip())
    names.setdefault("origin", "Origin")
    return ", ".join(names.values())
