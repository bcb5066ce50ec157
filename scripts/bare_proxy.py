"""A bare pass-through proxy: the benchmark's reference point, never a part of the suite.

The gateway's server model with nothing on top: gunicorn with uvicorn workers (uvloop,
httptools, as the gateway's EdgeWorker) and one call on the gateway's own loop connection
pool (gateway_service.loop_connections). No token check, no rate limit, no logging, no
metrics, no error conversion. `make bench-gateway` runs it beside the real gateway, with the
same gunicorn settings, so the report shows what the server and the upstream call cost on
this machine and how much the gateway's checks add on top.

    BARE_PROXY_UPSTREAM=http://127.0.0.1:8002 \
        gunicorn -k uvicorn_worker.UvicornWorker bare_proxy:application
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from gateway_service import loop_connections

_target = urlsplit(os.environ.get("BARE_PROXY_UPSTREAM", "http://127.0.0.1:8002"))
_pool = loop_connections.LoopConnectionPool(
    _target.scheme, _target.hostname or "127.0.0.1", _target.port, 1.0, 32
)
_NOT_SENT_ON = frozenset({b"host", b"connection"})
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "upgrade"})


async def application(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    if scope["type"] != "http":
        return  # no lifespan events to handle
    headers = {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in scope["headers"]
        if name not in _NOT_SENT_ON
    }
    query = scope["query_string"].decode("latin-1")
    target = scope["raw_path"].decode("latin-1") + (f"?{query}" if query else "")
    answer = await loop_connections.send(_pool, scope["method"], target, headers, 10.0)
    body = await answer.read()
    kept = [
        (k.lower().encode("latin-1"), v.encode("latin-1"))
        for k, v in answer.headers.items()
        if k.lower() not in _HOP_BY_HOP
    ]
    await send({"type": "http.response.start", "status": answer.status, "headers": kept})
    await send({"type": "http.response.body", "body": body})
