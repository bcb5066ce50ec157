"""Query-string filters and body checks that the schemas cannot express."""

from __future__ import annotations

import math
from typing import Any

from flask import request

from shared.problems import ValidationProblem

MAX_FILTER_LENGTH = 200


def text_filter(name: str, max_length: int = MAX_FILTER_LENGTH) -> str | None:
    """A text filter from the query string; absent or empty means no filter."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > max_length:
        raise ValidationProblem([{"field": name, "message": f"at most {max_length} characters"}])
    return raw


def number_filters(*names: str) -> dict[str, float]:
    """Non-negative finite numbers from the query string, with one error per bad parameter."""
    values: dict[str, float] = {}
    errors = []
    for name in names:
        raw = request.args.get(name)
        if raw is None:
            continue
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            errors.append({"field": name, "message": "must be a number, 0 or more"})
        else:
            values[name] = value
    if errors:
        raise ValidationProblem(errors)
    return values


def no_changes(changes: dict[str, Any]) -> None:
    if not changes:
        raise ValidationProblem([{"field": "", "message": "name at least one field to change"}])
