"""The RFC 9457 problem document itself: the exception that asks for one and its body.

Nothing here needs Flask, so code that runs where Flask is never loaded (the gateway's
gunicorn master, which imports its worker class, and that worker's HTTP protocol) builds
the same documents as the services' error handlers (shared.problems).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

PROBLEM_MIMETYPE = "application/problem+json"
# A body with thousands of bad fields gets the first hundred named: enough to fix, bounded.
MAX_FIELD_ERRORS = 100


class Problem(Exception):
    """Raise anywhere in a request to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        type_: str = "about:blank",
        title: str | None = None,
        errors: Iterable[Mapping[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title or str(status))
        self.status = status
        self.detail = detail
        self.type = type_
        self.title = title
        self.errors = list(errors) if errors is not None else None
        self.headers = dict(headers or {})


class ValidationProblem(Problem):
    """422 with one entry per bad field."""

    def __init__(self, errors: Iterable[Mapping[str, str]], detail: str | None = None) -> None:
        # about:blank, as every other problem here: the status and `errors` say all there
        # is, and a type URI would have to be absolute and served (RFC 9457 section 4.2).
        super().__init__(
            422, detail or "The request body or query has invalid fields.", errors=errors
        )


def status_title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_body(
    status: int,
    detail: str | None = None,
    *,
    type_: str = "about:blank",
    title: str | None = None,
    errors: Iterable[Mapping[str, str]] | None = None,
    instance: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": type_,
        "title": title or status_title(status),
        "status": status,
        "detail": detail or status_title(status),
        "instance": instance,
        "request_id": request_id,
    }
    if errors is not None:
        body["errors"] = [
            {"field": str(e.get("field", "")), "message": str(e.get("message", ""))}
            for e in list(errors)[:MAX_FIELD_ERRORS]
        ]
    return body
