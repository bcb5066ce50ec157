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

    # flask-cors adds Vary only for several origins; the answer depends on Origin always.
    @app.after_request
    def vary_on_origin(response: Response) -> Response:
        vary = response.headers.get("Vary")
        if not vary:
            response.headers["Vary"] = "Origin"
        elif "origin" not in vary.lower():
            response.headers["Vary"] = f"{vary}, Origin"
        return response
