"""The X-Request-ID convention: keep a well-formed client id, otherwise mint one."""

from __future__ import annotations

import logging
import re
import secrets
import time

from flask import Flask, Response, g, request

HEADER = "X-Request-ID"
_VALID = re.compile(r"[A-Za-z0-9._-]{1,128}")

access_log = logging.getLogger("access")


def accept_or_mint(candidate: str | None) -> str:
    if candidate and _VALID.fullmatch(candidate):
        return candidate
    return secrets.token_hex(16)  # 128 random bits (a uuid4 has 122), for a quarter of the cost


def current_request_id() -> str | None:
    return g.get("request_id")


def init_request_id(app: Flask, log_requests: bool = True) -> None:
    @app.before_request
    def assign_request_id() -> None:
        g.request_id = accept_or_mint(request.headers.get(HEADER))
        g.request_started = time.perf_counter()

    @app.after_request
    def echo_request_id(response: Response) -> Response:
        request_id = g.get("request_id") or accept_or_mint(request.headers.get(HEADER))
        g.request_id = request_id
        response.headers[HEADER] = request_id
        if log_requests:
            started = g.get("request_started")
            elapsed_ms = (time.perf_counter() - started) * 1000 if started else None
            log_access(request.method, request.path, response.status_code, elapsed_ms)
        return response


def log_access(
    method: str,
    path: str,
    status: int,
    elapsed_ms: float | None,
    request_id: str | None = None,
) -> None:
    """The access log line every answer gets (request_id: when no Flask request is current)."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    extra: dict[str, object] = {
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": round(elapsed_ms, 2) if elapsed_ms is not None else None,
    }
    if request_id is not None:
        extra["request_id"] = request_id
    # The record is made here rather than by access_log.info(), which walks the stack on
    # every request for a caller's file and line that no access line shows.
    record = access_log.makeRecord(
        access_log.name,
        logging.INFO,
        __file__,
        0,
        "%s %s %s",
        (method, path, status),
        None,
        extra=extra,
    )
    access_log.handle(record)
