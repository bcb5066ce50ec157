"""CORS, strictly: exact origins, credentials, preflights answered at the edge.

Written here rather than taken from a Flask extension because it applies to every answer
of the one request path (proxied or the gateway's own), before Flask is involved. The
rules are the Fetch standard's, and few: an allowed origin gets itself back with
credentials allowed; any other origin gets no CORS header at all; `*` never appears.
"""

from __future__ import annotations

from collections.abc import Iterable

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
ALLOWED_REQUEST_HEADERS = frozenset(
    {
        "authorization",
        "content-type",
        "if-match",
        "if-none-match",
        "idempotency-key",
        "x-request-id",
    }
)
METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE"


class Cors:
    def __init__(self, origins: Iterable[str], max_age: int) -> None:
        # config.check_cors_origins already refused '*', 'null' and patterns.
        self.origins = frozenset(origins)
        self.max_age = str(max_age)

    def headers(self, origin: str | None) -> list[tuple[str, str]]:
        """The CORS headers of an ordinary answer to a request from `origin`."""
        if origin is None or origin not in self.origins:
            return []
        return [
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Expose-Headers", ", ".join(EXPOSED)),
        ]

    def preflight(self, origin: str | None, requested_headers: str) -> list[tuple[str, str]]:
        """The headers of a preflight's answer (a 204 that never reaches a service)."""
        if origin is None or origin not in self.origins:
            return []
        asked = [h.strip() for h in requested_headers.split(",") if h.strip()]
        allowed = [h for h in asked if h.lower() in ALLOWED_REQUEST_HEADERS]
        headers = [
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Allow-Methods", METHODS),
            ("Access-Control-Max-Age", self.max_age),
        ]
        if allowed:
            headers.append(("Access-Control-Allow-Headers", ", ".join(allowed)))
        return headers


def merged_vary(values: Iterable[str]) -> str:
    """One Vary value that names Origin: every answer depends on it."""
    names: dict[str, str] = {}
    for value in values:
        for name in value.split(","):
            if name.strip():
                names.setdefault(name.strip().lower(), name.strip())
    names.setdefault("origin", "Origin")
    return ", ".join(names.values())
