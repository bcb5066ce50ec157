"""The gateway on an event loop: plain proxied reads served on the loop, the rest in threads.

Under gunicorn's threaded workers every request costs a dozen thread hand-offs and
wake-ups, more CPU than the proxying itself on a small machine. The edge serves the
gateway's bulk (a GET or HEAD on a routed path, with no body, anonymous or with a token
the edge already verified once) on the worker's event loop: the fast path's plan, the
rate-limit count and the token's revocation check (from a reserved batch of counts and the
worker's revocation news, or one Redis round trip when those cannot answer), one upstream
call over a kept-alive loop connection, and the answer. Every other request, and any
whose check does not come out plainly, goes to the Flask app (and its own fast path) in a
thread pool, so every refusal is still written in one place.

Run it with the worker in gateway_service.worker; the Flask app alone still runs under any
WSGI server.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, NamedTuple, cast
from urllib.parse import unquote_to_bytes

import redis
from a2wsgi import WSGIMiddleware
from a2wsgi.wsgi import unicode_to_wsgi
from flask import Flask

from gateway_service.fast_path import FastPath, Plan, Window, problem_for, unexpected
from gateway_service.forwarding import request_target
from gateway_service.limit_storage import LoopHitCounter
from gateway_service.limits import REDIS_TIMEOUT_SECONDS
from gateway_service.proxy import call_on_loop
from gateway_service.rate_leases import LeasedCounts
from gateway_service.revocation_news import RevocationNews
from shared.problems import Problem
from shared.request_id import accept_or_mint
from shared.tokens import RevocationList

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

LOOP_METHODS = frozenset({"GET", "HEAD"})
# a2wsgi's SCRIPT_NAME (the thread path's): the process environment's, read once.
_SCRIPT_NAME = unicode_to_wsgi(os.environ.get("SCRIPT_NAME", ""))


class EdgeReply(NamedTuple):
    """A loop-served request's answer, as the client gets it; `served()` once it is sent."""

    status: int
    headers: list[tuple[str, str]]
    body: Iterable[bytes] | AsyncIterator[bytes]
    served: Callable[[], None]  # the access log line and the metrics


class Edge:
    """The ASGI application a gateway worker serves.

    Its loop path is also served without ASGI by the worker's HTTP protocol
    (gateway_service.loop_exchange): plan() and respond() are the two halves both use.
    """

    def __init__(self, app: Flask, threads: int) -> None:
        self.app = app
        self.in_threads: Any = WSGIMiddleware(_as_gunicorn_would(app.wsgi_app), workers=threads)
        fast_path = app.wsgi_app
        self.fast_path = fast_path if isinstance(fast_path, FastPath) else None
        redis_url = app.config.get("REDIS_URL")
        self.counts: LeasedCounts | None = None
        self.news: RevocationNews | None = None
        if redis_url:
            counter = LoopHitCounter(redis_url, REDIS_TIMEOUT_SECONDS, REDIS_TIMEOUT_SECONDS)
            self.counts = LeasedCounts(counter)
            self.news = RevocationNews(redis_url, REDIS_TIMEOUT_SECONDS, REDIS_TIMEOUT_SECONDS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in LOOP_METHODS:
            raw_path = scope.get("raw_path")  # optional in ASGI
            environ, headers = request_environ(
                scope["method"],
                path_info(raw_path) if raw_path else scope["path"].encode().decode("latin-1"),
                scope["query_string"],
                scope["headers"],
                scope,
            )
            plan = self.plan(environ)
            reply = await self.respond(plan, environ, headers) if plan is not None else None
            if reply is not None:
                await _send_reply(reply, send)
                return
        await self.in_threads(scope, receive, send)

    def plan(self, environ: dict[str, Any]) -> Plan | None:
        """The fast path's plan for a bodiless GET or HEAD; None when the threads take it."""
        fast_path = self.fast_path
        if fast_path is None or environ.get("CONTENT_LENGTH", "0").strip("0"):
            return None
        return fast_path.plan(environ)

    async def respond(
        self, plan: Plan, environ: dict[str, Any], incoming: list[tuple[str, str]]
    ) -> EdgeReply | None:
        """Count, check and forward a planned request; None (nothing done but the count)
        when the Flask app must decide. A fault of the edge's own is answered as the Flask
        path's last-resort handler answers it: a 500 problem."""
        started = time.perf_counter()
        fast_path = cast(FastPath, self.fast_path)
        request_id = accept_or_mint(environ.get("HTTP_X_REQUEST_ID"))
        window: Window | None = None
        try:
            counted = await self._count(fast_path, plan)
            if counted is None:
                return None
            plain, window = fast_path.verdict(plan, counted)
            if not plain:
                return None
            answer = await self._forward(fast_path, plan, environ, incoming, request_id)
        except Exception as exc:
            answer = unexpected(exc, request_id, environ["PATH_INFO"])
        status, headers, body = answer
        headers = fast_path.edge_headers(environ, headers, request_id, window, status)
        served = functools.partial(fast_path.record, plan, environ, status, request_id, started)
        return EdgeReply(status, headers, body, served)

    async def _count(self, fast_path: FastPath, plan: Plan) -> tuple[int, float, list[Any]] | None:
        """The request's rate-limit count, its window's end and its token's revocation
        marks (all None when the token is vouched for); None when the Flask path must
        check (limits off or kept in memory, Redis away).

        Most requests cost no Redis round trip: the count comes from a batch reserved
        earlier (gateway_service.rate_leases) and the marks from what the worker hears of
        them (gateway_service.revocation_news). Otherwise one round trip reserves the next
        batch and reads the marks the news cannot vouch for.
        """
        hit = fast_path.hit_of(plan) if fast_path.limiter.enabled else None
        counts, news = self.counts, self.news
        if hit is None or counts is None or news is None:
            return None
        marks = hit.marks
        vouched = not marks or news.vouches_for(marks)
        stamp = None if vouched else news.check_started()
        try:
            count, reset_at, values = await counts.count(
                hit.storage.prefixed_key(hit.key),
                hit.expiry,
                plan.limit.amount,
                [] if vouched else marks,
            )
        except (redis.RedisError, OSError):
            return None
        if vouched:
            values = [None] * len(marks)
        elif plan.claims and not RevocationList.revoked_by(plan.claims, values):
            news.read_clean(marks, stamp)
        return count, reset_at, values

    def close(self) -> None:
        """Close the worker's Redis connections (the upstream pools are the app's)."""
        if self.counts is not None:
            self.counts.counter.close()
        if self.news is not None:
            self.news.close()

    @staticmethod
    async def _forward(
        fast_path: FastPath,
        plan: Plan,
        environ: dict[str, Any],
        incoming: list[tuple[str, str]],
        request_id: str,
    ) -> tuple[int, list[tuple[str, str]], Iterable[bytes] | AsyncIterator[bytes]]:
        """The upstream's answer, or the problem that stands for it."""
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        headers = fast_path.upstream_headers(environ, request_id, incoming)
        try:
            return await call_on_loop(
                plan.route.upstream, method, request_target(environ), headers, request_id, path
            )
        except Problem as problem:
            return problem_for(problem, request_id, path)


async def _send_reply(reply: EdgeReply, send: Send) -> None:
    try:
        await send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": [  # lower-case names, as ASGI has them
                    (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers
                ],
            }
        )
        body = reply.body
        if isinstance(body, AsyncIterator):
            async for chunk in body:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        else:
            await send({"type": "http.response.body", "body": b"".join(body)})
    finally:
        reply.served()


def request_environ(
    method: str,
    path: str,
    query: bytes,
    raw_headers: Iterable[tuple[bytes, bytes]],
    scope: Scope,
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The WSGI environ of a request without a body, as the thread path builds it (a2wsgi,
    with gunicorn's PATH_INFO), and its headers as text (lower-case names, a repeated one
    joined as WSGI servers join them), decoded once for both. `path`: its PATH_INFO;
    `scope`: the connection's parts (server, client, scheme, HTTP version).
    """
    server_name, server_port = scope.get("server") or ("localhost", 80)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": _SCRIPT_NAME,
        "PATH_INFO": path,
        "QUERY_STRING": query.decode("latin-1"),
        "SERVER_PROTOCOL": f"HTTP/{scope['http_version']}",
        "SERVER_NAME": server_name,
        "SERVER_PORT": str(server_port or 0),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": None,
        "wsgi.errors": sys.stdout,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
    }
    client = scope.get("client")
    if client is not None:
        environ["REMOTE_ADDR"], port = client
        environ["REMOTE_PORT"] = str(port)
    joined: dict[str, str] = {}
    for raw_name, raw_value in raw_headers:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        joined[name] = f"{joined[name]},{value}" if name in joined else value
        key = _environ_key(name)
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ, list(joined.items())


def path_info(raw_path: bytes) -> str:
    """gunicorn's PATH_INFO: the path's own bytes, percent-decoded, as latin-1 text (an ASGI
    path is decoded as UTF-8 first, losing any byte that is not)."""
    return unquote_to_bytes(raw_path.partition(b"?")[0]).decode("latin-1")


@functools.lru_cache(maxsize=256)  # bounded: the names are the clients' to choose
def _environ_key(name: str) -> str:
    """A header's environ key, as a2wsgi (and so the thread path) names it."""
    if name == "content-length":
        return "CONTENT_LENGTH"
    if name == "content-type":
        return "CONTENT_TYPE"
    return f"HTTP_{name}".upper().replace("-", "_")


def _as_gunicorn_builds(environ: dict[str, Any], scope: Scope) -> dict[str, Any]:
    """a2wsgi's environ with the two things gunicorn does differently."""
    raw_path = scope.get("raw_path")
    if raw_path:
        environ["PATH_INFO"] = path_info(raw_path)
    # The server delimits the body (chunked included): werkzeug may read it to its end.
    environ["wsgi.input_terminated"] = True
    return environ


def _as_gunicorn_would(wsgi_app: Callable[..., Any]) -> Callable[..., Any]:
    """The Flask app behind a2wsgi's bridge, given the environ wsgi_environ() makes."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return wsgi_app(_as_gunicorn_builds(environ, environ["asgi.scope"]), start_response)

    return application
