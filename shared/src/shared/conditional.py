"""Conditional requests (RFC 9110 section 13): If-None-Match gives 304, a stale If-Match 412.

Each service says what its ETag is (content: a row's version; auth: a digest of the
representation); the comparisons, the 304 answer and the 412 problem are the same everywhere.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from flask import Response, jsonify, request

from shared.problems import Problem, ValidationProblem

# The longest If-Match or If-None-Match taken (the documents state it): a longer one names no
# ETag of ours, and is refused rather than ignored, as every other over-long input is.
MAX_CONDITION_LENGTH = 1024


def _tags(header: str) -> list[str]:
    return [part.strip() for part in header.split(",") if part.strip()]


def _condition(name: str) -> str | None:
    value = request.headers.get(name)
    if value is not None and len(value) > MAX_CONDITION_LENGTH:
        message = f"At most {MAX_CONDITION_LENGTH} characters."
        raise ValidationProblem([{"field": name, "message": message}], "Header too long.")
    return value


def not_modified(current: str) -> bool:
    """If-None-Match uses the weak comparison: W/ prefixes are ignored."""
    header = _condition("If-None-Match")
    if header is None:
        return False
    tags = [tag.removeprefix("W/") for tag in _tags(header)]
    return "*" in tags or current in tags


def not_modified_response(current: str) -> Response:
    """A 304 carries the validator and no body, so no Content-Type or Content-Length either."""
    response = Response(status=304)
    response.headers["ETag"] = current
    response.headers.remove("Content-Type")
    return response


def if_match_allows(current: Iterable[str]) -> bool | None:
    """None without If-Match; else whether it names one of the current tags (or `*`).

    If-Match uses the strong comparison, so a weak tag never matches.
    """
    header = _condition("If-Match")
    if header is None:
        return None
    tags = _tags(header)
    return "*" in tags or any(tag in tags for tag in current)


def precondition_failed() -> Problem:
    return Problem(412, "The resource has changed since the ETag in If-Match; fetch it again.")


def require_fresh(current: Iterable[str]) -> None:
    """412 unless If-Match is absent or names a current tag."""
    if if_match_allows(current) is False:
        raise precondition_failed()


def digest_etag(representation: dict[str, Any]) -> str:
    """A strong ETag for a representation with no stored version: a digest of its JSON."""
    canonical = json.dumps(representation, sort_keys=True, separators=(",", ":"))
    return '"' + hashlib.sha256(canonical.encode()).hexdigest()[:32] + '"'


def conditional_json(representation: dict[str, Any], current: str | None = None) -> Response:
    """The representation with its ETag, or 304 when If-None-Match names it."""
    tag = current or digest_etag(representation)
    if not_modified(tag):
        return not_modified_response(tag)
    response = jsonify(representation)
    response.headers["ETag"] = tag
    return response
