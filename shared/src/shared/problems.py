"""RFC 9457 problem+json: the one error shape of every service, for every failure."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g, json, request
from werkzeug.exceptions import HTTPException

from shared.problem_documents import (
    MAX_FIELD_ERRORS,
    PROBLEM_MIMETYPE,
    Problem,
    ValidationProblem,
    problem_body,
    status_title,
)

__all__ = [
    "MAX_FIELD_ERRORS",
    "PROBLEM_MIMETYPE",
    "Problem",
    "ValidationProblem",
    "init_problem_handlers",
    "problem_body",
    "problem_response",
    "status_title",
]

log = logging.getLogger(__name__)


def problem_response(
    status: int,
    detail: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    **fields: Any,
) -> Response:
    """Build a problem+json response for the current request."""
    fields.setdefault("instance", _safe_path())
    fields.setdefault("request_id", g.get("request_id") if _has_g() else None)
    body = problem_body(status, detail, **fields)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _has_g() -> bool:
    from flask import has_app_context

    return has_app_context()


def _safe_path() -> str | None:
    from flask import has_request_context

    return request.path if has_request_context() else None


# Headers of werkzeug's HTML errors that still mean something in a problem answer.
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


def _from_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    headers = {k: v for k, v in exc.get_headers() if k in _KEPT_HEADERS}
    if status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    detail = exc.description if isinstance(exc.description, str) else None
    if status == 413:
        detail = "The request body is larger than this service accepts."
    return problem_response(status, detail, headers=headers)


def _from_problem(exc: Problem) -> Response:
    headers = dict(exc.headers)
    if exc.status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return problem_response(
        exc.status,
        exc.detail,
        headers=headers,
        type_=exc.type,
        title=exc.title,
        errors=exc.errors,
    )


def _from_unexpected(exc: Exception) -> Response:
    # The traceback goes to the log, tagged with the request id; the client gets none of it.
    log.exception("unhandled error: %s", type(exc).__name__)
    return problem_response(500, "An unexpected error occurred; quote the request id.")


def init_problem_handlers(app: Flask) -> None:
    """Answer every HTTP error and every unexpected exception with problem+json."""
    app.register_error_handler(Problem, _from_problem)
    app.register_error_handler(HTTPException, _from_http_exception)
    app.register_error_handler(Exception, _from_unexpected)
