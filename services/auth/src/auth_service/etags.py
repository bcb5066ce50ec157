"""ETags on single resources: If-None-Match gives 304, a stale If-Match gives 412."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Response, jsonify, request

from shared.problems import Problem


def etag_of(representation: dict[str, Any]) -> str:
    canonical = json.dumps(representation, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def conditional_json(representation: dict[str, Any]) -> Response:
    response = jsonify(representation)
    response.set_etag(etag_of(representation))
    response.make_conditional(request)
    return response


def require_fresh(representation: dict[str, Any]) -> None:
    """Refuse a change made against an older version than the current one."""
    if_match = request.if_match
    if if_match and not if_match.star_tag and not if_match.contains(etag_of(representation)):
        raise Problem(412, "The resource has changed; fetch it again and retry.")
