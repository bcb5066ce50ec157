"""Reading a JSON object from a request body with problem+json answers for bad input."""

from __future__ import annotations

from typing import Any

from flask import request

from shared.problems import Problem, ValidationProblem


def json_object(required: bool = True) -> dict[str, Any]:
    """Return the body as a JSON object: 415 if not JSON, 400 if malformed, 422 if not an object."""
    if not request.data and not required:
        return {}
    if not request.is_json:
        raise Problem(415, "Send the body as application/json.")
    try:
        body = request.get_json(force=True, silent=False)
    except Exception as exc:  # werkzeug raises BadRequest with an HTML description
        raise Problem(400, "The request body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise ValidationProblem(
            [{"field": "", "message": "expected a JSON object"}],
            "The request body must be a JSON object.",
        )
    return body
