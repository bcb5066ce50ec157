"""A bare pass-through proxy: the benchmark's reference point, never a part of the suite.

gunicorn plus a pooled urllib3 call and nothing else: no token check, no rate limit, no
logging, no metrics, no error conversion. `make bench-gateway` runs it beside the real
gateway, with the same gunicorn settings, so the report shows what any Python proxy costs
on this machine and how much of the gateway's cost its checks add on top.

    BARE_PROXY_UPSTREAM=http://127.0.0.1:8002 gunicorn bare_proxy:application
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import urllib3

_target = urlsplit(os.environ.get("BARE_PROXY_UPSTREAM", "http://127.0.0.1:8002"))
_pool = urllib3.HTTPConnectionPool(
    _target.hostname or "127.0.0.1", _target.port, maxsize=32, block=False, retries=False
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
    answer = _pool.urlopen(
        environ["REQUEST_METHOD"], path, headers=headers, redirect=False, assert_same_host=False
    )
    kept = [(k, v) for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP]
    start_response(f"{answer.status} {answer.reason}", kept)
    return [answer.data]
