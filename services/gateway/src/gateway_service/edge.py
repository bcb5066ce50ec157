"""The gateway on an event loop: plain proxied reads served on the loop, the rest in threads.

Under gunicorn's threaded workers every request costs a dozen thread hand-offs and
wake-ups, more CPU than the proxying itself on a small machine. The edge serves the
gateway's bulk (a GET or HEAD on a routed path, with no body, anonymous or with a token
the edge already verified once) on the worker's event loop: the fast path's plan, one Redis
round trip for the rate-limit count and the token's revocation marks, one upstream call over
a kept-alive loop connection, and the answer. Every other request, and any whose check does
not come out plainly, goes to the Flask app (and its own fast path) in a thread pool, so
every refusal is still written in one place.

Run it with the worker in gateway_service.worker; the Flask app alone still runs under any
WSGI server.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, cast
from urllib.parse import unquote_to_bytes

import redis
from a2wsgi import WSGIMiddleware
from a2wsgi.wsgi import build_environ
from flask import Flask

from gateway_service.fast_path import FastPath, Plan, problem_for, unexpected
from gateway_service.forwarding import request_target
from gateway_service.limit_storage import LoopHitCounter
from gateway_service.limits import REDIS_TIMEOUT_SECONDS
from gateway_service.proxy import call_on_loop
from shared.problems import Problem
from shared.request_id import accept_or_mint

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

LOOP_METHODS = frozenset({"GET", "HEAD"})


class Edge:
    """The ASGI application a gateway worker serves."""

    def __init__(self, app: Flask, threads: int) -> None:
        self.app = app
        self.in_threads: Any = WSGIMiddleware(_as_gunicorn_would(app.wsgi_app), workers=threads)
        fast_path = app.wsgi_app
        self.fast_path = fast_path if isinstance(fast_path, FastPath) else None
        redis_url = app.config.get("REDIS_URL")
        self.counter = (
            LoopHitCounter(redis_url, REDIS_TIMEOUT_SECONDS, REDIS_TIMEOUT_SECONDS)
            if redis_url
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast_path = self.fast_path
        if fast_path is not None and scope["type"] == "http" and scope["method"] in LOOP_METHODS:
            environ = wsgi_environ(scope)
            bodiless = not environ.get("CONTENT_LENGTH", "0").strip("0")
            plan = fast_path.plan(environ) if bodiless else None
            if plan is not None and await self._serve(fast_path, plan, scope, environ, send):
                return
        await self.in_threads(scope, receive, send)

    async def _serve(
        self, fast_path: FastPath, plan: Plan, scope: Scope, environ: dict[str, Any], send: Send
    ) -> bool:
        """Serve a planned request; False (nothing sent) when the Flask app must decide."""
        started = time.perf_counter()
        hit = fast_path.hit_of(plan) if fast_path.limiter.enabled else None
        if hit is None or self.counter is None:
            return False  # limits off or kept in memory: the thread path checks revocation
        try:
            counted = await self.counter.incr_and_read(
                hit.storage.prefixed_key(hit.key), hit.expiry, hit.marks
            )
        except (redis.RedisError, OSError):
            return False  # Redis away: the Flask path's fallbacks decide
        plain, window = fast_path.verdict(plan, counted)
        if not plain:
            return False
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        request_id = accept_or_mint(environ.get("HTTP_X_REQUEST_ID"))
        headers = fast_path.upstream_headers(environ, request_id, request_headers(scope))
        body: Iterable[bytes] | AsyncIterator[bytes]
        try:
            status, answer_headers, body = await call_on_loop(
                plan.route.upstream, method, request_target(environ), headers, request_id, path
            )
        except Problem as problem:
            status, answer_headers, body = problem_for(problem, request_id, path)
        except Exception as exc:
            status, answer_headers, body = unexpected(exc, request_id, path)
        answer_headers = fast_path.edge_headers(environ, answer_headers, request_id, window, status)
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [  # lower-case names, as ASGI has them
                        (k.lower().encode("latin-1"), v.encode("latin-1"))
                        for k, v in answer_headers
                    ],
                }
            )
            await _send_body(body, send)
        finally:
            fast_path.record(plan, environ, status, request_id, started)
        return True


async def _send_body(body: Iterable[bytes] | AsyncIterator[bytes], send: Send) -> None:
    if isinstance(body, AsyncIterator):
        async for chunk in body:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    else:
        await send({"type": "http.response.body", "body": b"".join(body)})


def request_headers(scope: Scope) -> list[tuple[str, str]]:
    """The request's headers as text, a repeated one joined as WSGI servers join them
    (names in lower case, as the HTTP parser gives them)."""
    joined: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    return list(joined.items())


def wsgi_environ(scope: Scope) -> dict[str, Any]:
    """The WSGI environ of an ASGI request (with no body), as gunicorn builds it."""
    environ = cast(dict[str, Any], build_environ(scope, None))  # type: ignore[arg-type]
    return _as_gunicorn_builds(environ, scope)


def _as_gunicorn_builds(environ: dict[str, Any], scope: Scope) -> dict[str, Any]:
    """a2wsgi's environ with the two things gunicorn does differently."""
    raw_path = scope.get("raw_path")
    if raw_path:
        # The path's own bytes, percent-decoded, as latin-1 text (the ASGI path is decoded
        # as UTF-8 first, losing any byte that is not).
        environ["PATH_INFO"] = unquote_to_bytes(raw_path.partition(b"?")[0]).decode("latin-1")
    # The server delimits the body (chunked included): werkzeug may read it to its end.
    environ["wsgi.input_terminated"] = True
    return environ


def _as_gunicorn_would(wsgi_app: Callable[..., Any]) -> Callable[..., Any]:
    """The Flask app behind a2wsgi's bridge, given the environ wsgi_environ() makes."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return wsgi_app(_as_gunicorn_builds(environ, environ["asgi.scope"]), start_response)

    return application
