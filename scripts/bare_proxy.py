"""A bare pass-through proxy: the benchmark's reference point, never a part of the suite.

The gateway's server model with nothing on top: gunicorn with uvicorn workers (uvloop,
httptools, as the gateway's EdgeWorker) and one call per request on a pooled aiohttp
session, as the gateway makes its reads. No head gate, no token check, no rate limit, no
logging, no metrics, no error conversion. `make bench-gateway` runs it beside the real
gateway, with the same gunicorn settings, so the report shows what the server and the
upstream call cost on this machine and how much the gateway's checks add on top.

    BARE_PROXY_UPSTREAM=http://127.0.0.1:8002 \
        gunicorn -k uvicorn_worker.UvicornWorker bare_proxy:application
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from yarl import URL

_UPSTREAM = os.environ.get("BARE_PROXY_UPSTREAM", "http://127.0.0.1:8002").rstrip("/")
_NOT_SENT_ON = frozenset({b"host", b"connection"})
_HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"te", b"upgrade"})
_session: aiohttp.ClientSession | None = None


async def application(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    global _session
    if scope["type"] != "http":
        return  # no lifespan events to handle
    if _session is None:  # made on the loop that uses it
        _session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),  # as the gateway: no cookie kept between clients
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        )
    headers = [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in scope["headers"]
        if name not in _NOT_SENT_ON
    ]
    query = scope["query_string"].decode("latin-1")
    target = scope["raw_path"].decode("latin-1") + (f"?{query}" if query else "")
    url = URL(_UPSTREAM + target, encoded=True)
    async with _session.request(scope["method"], url, headers=headers) as answer:
        body = await answer.read()
        kept = [(k.lower(), v) for k, v in answer.raw_headers if k.lower() not in _HOP_BY_HOP]
    await send({"type": "http.response.start", "status": answer.status, "headers": kept})
    await send({"type": "http.response.body", "body": body})
