"""CORS with flask-cors, strictly: exact origins, credentials, preflights answered here."""

from __future__ import annotations

from flask import Flask, Response, request
from flask_cors import CORS

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
    CORS(
        app,
        origins=list(app.config["CORS_ORIGINS"]),
        supports_credentials=True,
        send_wildcard=False,
        always_send=False,
        max_age=app.config["CORS_MAX_AGE"],
        expose_headers=EXPOSED,
        allow_headers=ALLOWED_REQUEST_HEADERS,
        methods=METHODS,
        vary_header=True,
    )


def vary_on_origin(response: Response) -> Response:
    """One Vary header that names Origin: every answer depends on it, and flask-cors adds
    its own only when several origins are configured (and then beside the upstream's)."""
    names: list[str] = []
    for value in response.headers.getlist("Vary"):
        names += [n.strip() for n in value.split(",") if n.strip()]
    if not any(n.lower() == "origin" for n in names):
        names.append("Origin")
    unique: dict[str, str] = {}
    for name in names:
        unique.setdefault(name.lower(), name)
    response.headers["Vary"] = ", ".join(unique.values())
    return response
