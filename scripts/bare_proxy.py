"""A bare pass-through proxy: the benchmark's reference point, never a part of the suite.

gunicorn plus one call on the gateway's own connection pool (gateway_service.connections)
and nothing else: no token check, no rate limit, no logging, no metrics, no error
conversion. `make bench-gateway` runs it beside the real gateway, with the same gunicorn
settings, so the report shows what gunicorn and the upstream call cost on this machine and
how much the gateway's checks add on top.

    BARE_PROXY_UPSTREAM=http://127.0.0.1:8002 gunicorn bare_proxy:application
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from gateway_service import connections

_target = urlsplit(os.environ.get("BARE_PROXY_UPSTREAM", "http://127.0.0.1:8002"))
_pool = connections.ConnectionPool(
    _target.scheme, _target.hostname or "127.0.0.1", _target.port, 1.0, 32
)
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "upgrade"})


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    headers = {
        key[5:].replace("_", "-").title(): value
        for key, value in environ.items()
        if key.startswith("HTTP_") and key not in ("HTTP_HOST", "HTTP_CONNECTION")
    }
    query = environ.get("QUERY_STRING")
    path = environ["PATH_INFO"] + (f"?{query}" if query else "")
    answer = connections.send(_pool, environ["REQUEST_METHOD"], path, headers, None, 10.0)
    kept = [(k, v) for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP]
    start_response(f"{answer.status} {answer.reason}", kept)
    return [answer.data]
