"""The gateway's one request path: an ASGI application on the worker's event loop.

Every request, proxied or answered by the gateway itself, passes the same steps in this
order, each written once here:

1. the request id (the client's own if well-formed, else a new one);
2. the target: dot segments, encoded slashes or backslashes refused (400), a method the
   gateway does not route refused (405 with `Allow`), a `Transfer-Encoding` other than
   `chunked` refused (501), a declared body over `MAX_BODY_BYTES` refused (413);
   `/metrics` only for the peers in `METRICS_ALLOWED`;
3. a CORS preflight answered (never counted, never forwarded);
4. the bearer token checked with the common verifier (remembered once verified; its
   revocation marks read from Redis, or vouched for by the worker's revocation news);
5. the rate limit counted (the API, `/me` and the console), 429 past it; then a bad or
   revoked token's 401;
6. the body read whole, up to `MAX_BODY_BYTES`, within `REQUEST_BODY_TIMEOUT` (413, 408),
   before anything is sent on: a body that never ended reaches nobody;
7. the request forwarded to its upstream (gateway_service.upstream), or handed to the Flask
   app for the gateway's own pages (in a2wsgi's threads);
8. the answer with the gateway's headers (request id, CORS, `RateLimit-*`, `Vary`), errors
   as problem+json, then one access log line and the metrics.

The request head itself is bounded before any of this, by the worker's protocol
(gateway_service.worker): 414 and 431.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote_to_bytes

import redis.asyncio as aioredis
from a2wsgi import WSGIMiddleware
from flask import Flask

from gateway_service.config import parse_routes
from gateway_service.cors import Cors, merged_vary
from gateway_service.edge_auth import CachingTokenVerifier, edge_verifier
from gateway_service.forwarding import forwarded_headers
from gateway_service.limits import REDIS_TIMEOUT_SECONDS, RateLimits, rate_limit_headers
from gateway_service.revocation_news import RevocationNews
from gateway_service.upstream import Answer, Upstream, close_all, problem_answer
from shared.metrics import record_request
from shared.problems import Problem, problem_body
from shared.proxies import client_address_of, is_trusted
from shared.request_id import accept_or_mint, log_access
from shared.tokens import InvalidToken, RevocationList, principal_from_claims

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

ROUTED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
ALLOW = ", ".join(ROUTED_METHODS)
# The gateway's own pages counted against the rate limit (each costs service calls).
COUNTED_OWN = ("/me", "/console")

# The metrics' route label of the gateway's own pages: bounded, whatever the path.
OWN_ROUTES = ("/healthz", "/readyz", "/me", "/openapi.json", "/docs", "/console", "/metrics")
OWN_HEADERS = frozenset({"x-request-id", "ratelimit-limit", "ratelimit-remaining", "vary"})
OWN_HEADERS_429 = OWN_HEADERS | {"retry-after"}


class Route:
    __slots__ = ("label", "prefix", "upstream")

    def __init__(self, prefix: str, upstream: Upstream) -> None:
        self.prefix = prefix
        self.upstream = upstream
        self.label = f"{prefix}/<path:rest>"

    def matches(self, path: str) -> bool:
        return path.startswith(self.prefix) and path[len(self.prefix) : len(self.prefix) + 1] in (
            "",
            "/",
        )


class Edge:
    def __init__(self, app: Flask, threads: int = 32) -> None:
        config = app.config
        self.flask: Any = WSGIMiddleware(app.wsgi_app, workers=threads)  # type: ignore[arg-type]
        self.service = config["SERVICE_NAME"]
        self.upstreams = {
            name: Upstream(
                name,
                _service_url(config, name),
                connect_timeout=config["UPSTREAM_CONNECT_TIMEOUT"],
                read_timeout=config["UPSTREAM_READ_TIMEOUT"],
                max_in_flight=config["UPSTREAM_MAX_IN_FLIGHT"],
                failure_threshold=config["CIRCUIT_FAILURE_THRESHOLD"],
                reset_seconds=config["CIRCUIT_RESET_SECONDS"],
            )
            for _, name in parse_routes(config["GATEWAY_ROUTES"])
        }
        self.routes = [
            Route(prefix, self.upstreams[name])
            for prefix, name in parse_routes(config["GATEWAY_ROUTES"])
        ]
        self.cors = Cors(config["CORS_ORIGINS"], config["CORS_MAX_AGE"])
        self.verifier: CachingTokenVerifier = edge_verifier(config)
        self.refresh_paths = frozenset(config["REFRESH_TOKEN_PATHS"])
        self.client_auth_paths = frozenset(config["CLIENT_AUTH_PATHS"])
        self.networks = config["TRUSTED_NETWORKS"]
        self.metrics_networks = config["METRICS_NETWORKS"]
        self.max_body: int = config["MAX_CONTENT_LENGTH"]
        self.body_timeout: float = config["REQUEST_BODY_TIMEOUT"]
        self.config = config
        self.redis: aioredis.Redis | None = None
        self.limits = RateLimits(config, None)
        self.news: RevocationNews | None = None
        self._token_keys: dict[str, tuple[str, list[str]]] = {}

    # -- the loop's life ---------------------------------------------------------------------

    async def startup(self) -> None:
        """Redis clients are made on the loop that uses them."""
        url = self.config.get("REDIS_URL")
        if url:
            self.redis = aioredis.Redis.from_url(
                url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
            self.limits = RateLimits(self.config, self.redis)
            self.news = RevocationNews(url, REDIS_TIMEOUT_SECONDS)

    async def shutdown(self) -> None:
        if self.news is not None:
            await self.news.close()
        if self.redis is not None:
            await self.redis.aclose()
        await close_all(self.upstreams)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.serve(scope, receive, send)
        elif scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await self.startup()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.shutdown()
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    # -- one request -------------------------------------------------------------------------

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        exchange = Exchange(scope, headers, accept_or_mint(headers.get("x-request-id")))
        route_label = "<unmatched>"
        try:
            path = clean_path(scope.get("raw_path") or scope["path"].encode())
            route = next((r for r in self.routes if r.matches(path)), None)
            route_label = route.label if route is not None else _own_label(path)
            answer = await self.answer(exchange, path, route, receive, send)
        except Problem as problem:
            answer = self.problem(problem, exchange)
        except Exception as exc:  # the last resort: a 500 problem, never a stack trace
            log.exception(
                "unhandled error: %s", type(exc).__name__, extra={"request_id": exchange.id}
            )
            failure = Problem(500, "An unexpected error occurred; quote the request id.")
            answer = self.problem(failure, exchange)
        try:
            if answer is not None:
                await self.send_answer(exchange, answer, send)
        finally:
            elapsed = time.perf_counter() - started
            method, status = scope["method"], exchange.status
            log_access(method, scope["path"], status, elapsed * 1000, exchange.id)
            record_request(self.service, method, route_label, status, elapsed)

    async def answer(
        self, exchange: Exchange, path: str, route: Route | None, receive: Receive, send: Send
    ) -> Answer | None:
        """The answer to send, or None when the Flask app has sent it (or the client left)."""
        scope, headers = exchange.scope, exchange.headers
        method = scope["method"]
        if method not in ROUTED_METHODS:
            raise Problem(405, f"{method} is not allowed here.", headers={"Allow": ALLOW})
        encoding = headers.get("transfer-encoding")
        if encoding is not None and encoding.strip().lower() != "chunked":
            raise Problem(501, "Only the chunked transfer coding is supported.")
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            raise Problem(413, f"The request body is larger than {self.max_body} bytes.")
        if path == "/metrics" and not is_trusted(_peer(scope), self.metrics_networks):
            raise Problem(404, "The requested URL was not found on the server.")
        if method == "OPTIONS" and "access-control-request-method" in headers:
            preflight = self.cors.preflight(
                headers.get("origin"), headers.get("access-control-request-headers", "")
            )
            exchange.cors_done = True
            return Answer(204, preflight, b"")
        if route is not None or _own_label(path) in COUNTED_OWN:
            await self.check(exchange, path, bearer=route is not None or path == "/me")
        body = await self.read_body(exchange, receive)
        if body is None:
            exchange.status = 499  # the client is gone: nothing is sent on, nothing answered
            return None
        if route is None:
            await self.to_flask(exchange, body, receive, send)
            return None
        target = scope.get("raw_path") or scope["path"].encode()
        if scope["query_string"]:
            target += b"?" + scope["query_string"]
        upstream_headers = forwarded_headers(
            headers.items(),
            peer=_peer(scope),
            host=headers.get("host", ""),
            scheme=scope.get("scheme", "http"),
            request_id=exchange.id,
            networks=self.networks,
        )
        return await route.upstream.call(
            method, target.decode("latin-1"), upstream_headers, body, exchange.id, path
        )

    async def check(self, exchange: Exchange, path: str, bearer: bool) -> None:
        """The token check and the rate-limit count; raises the refusal (401, 429, 503)."""
        headers = exchange.headers
        authorization = headers.get("authorization") if bearer else None
        if (
            authorization is not None
            and path in self.client_auth_paths
            and authorization.partition(" ")[0].lower() != "bearer"
        ):
            authorization = None  # an OAuth client's own credentials (RFC 6749 2.3.1): auth's

        claims: dict[str, Any] | None = None
        refusal: Problem | None = None
        if authorization is not None:
            try:
                claims = await self._verify(authorization, path)
            except InvalidToken as exc:
                refusal = _unauthorized(f"Invalid token: {exc}")
        if claims is not None:
            client_key, marks = self._keys_of(authorization or "", claims)
        else:
            peer = _peer(exchange.scope)
            client_key = (
                f"addr:{client_address_of(peer, headers.get('x-forwarded-for'), self.networks)}"
            )
            marks = []
        news = self.news
        vouched = bool(marks) and news is not None and news.vouches_for(marks)
        if vouched:
            await asyncio.sleep(0)  # a notice that came before this request is read first
            vouched = news is not None and news.vouches_for(marks)
        stamp = news.check_started() if news is not None and marks and not vouched else None
        read = marks if marks and not vouched else []
        counted = await self.limits.count(client_key, claims is not None, read)
        values: list[Any] | None
        if counted is not None:
            exchange.window = counted.window
            if counted.window.remaining < 0:
                raise Problem(429, "Too many requests; slow down.")
            values = counted.marks
        elif read:  # limits off: the marks are read on their own
            values = await self._read_marks(read)
        else:
            values = []
        if refusal is not None:
            raise refusal
        if claims is None or vouched:
            return
        if values is None:
            raise Problem(
                503,
                "Token revocation cannot be checked right now; try again shortly.",
                headers={"Retry-After": "5"},
            )
        if RevocationList.revoked_by(claims, values):
            raise _unauthorized("Invalid token: token has been revoked")
        if news is not None:
            news.read_clean(marks, stamp)

    async def _verify(self, authorization: str, path: str) -> dict[str, Any]:
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise InvalidToken("the Authorization header must be 'Bearer <token>'")
        expected = "refresh" if path in self.refresh_paths else "access"
        claims = self.verifier.remembered(token, expected)
        if claims is None:  # a first use: the signature check (and maybe the JWKS fetch)
            claims = await asyncio.to_thread(self.verifier.decode, token, expected)
        return claims

    def _keys_of(self, authorization: str, claims: dict[str, Any]) -> tuple[str, list[str]]:
        """A verified token's rate-limit key and revocation keys, worked out once."""
        keys = self._token_keys.get(authorization)
        if keys is None:
            keys = (f"user:{principal_from_claims(claims).id}", RevocationList.mark_keys(claims))
            if len(self._token_keys) >= 10_000:
                self._token_keys.clear()
            self._token_keys[authorization] = keys
        return keys

    async def _read_marks(self, marks: list[str]) -> list[Any] | None:
        if self.redis is None:
            return None
        try:
            return list(await self.redis.mget(marks))
        except (aioredis.RedisError, OSError):
            return None

    async def read_body(self, exchange: Exchange, receive: Receive) -> bytes | None:
        """The whole body within the deadline (408) and the size limit (413); None when the
        client left or its body broke off."""
        headers = exchange.headers
        if "transfer-encoding" not in headers and headers.get("content-length", "0") in ("0", ""):
            return b""
        parts: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.body_timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    part = message.get("body", b"")
                    size += len(part)
                    if size > self.max_body:
                        exchange.close = True
                        raise Problem(
                            413, f"The request body is larger than {self.max_body} bytes."
                        )
                    parts.append(part)
                    if not message.get("more_body", False):
                        return b"".join(parts)
        except TimeoutError as exc:
            exchange.close = True
            raise Problem(
                408, f"The request body did not arrive within {self.body_timeout:g} seconds."
            ) from exc

    async def to_flask(self, exchange: Exchange, body: bytes, receive: Receive, send: Send) -> None:
        """The gateway's own pages: the Flask app, given the whole body, its answer sent
        with the edge's headers."""
        scope = dict(exchange.scope)
        scope["headers"] = [
            (name, value)
            for name, value in exchange.scope["headers"]
            if name not in (b"transfer-encoding", b"content-length", b"x-request-id")
        ] + [(b"content-length", str(len(body)).encode()), (b"x-request-id", exchange.id.encode())]
        delivered = False

        async def whole_body() -> dict[str, Any]:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def with_edge_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
                own = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in message["headers"]]
                message = {**message, "headers": _encoded(self.edge_headers(exchange, own))}
            await send(message)

        await self.flask(scope, whole_body, with_edge_headers)

    # -- answers -----------------------------------------------------------------------------

    def problem(self, problem: Problem, exchange: Exchange) -> Answer:
        instance = exchange.scope["path"]
        document = problem_body(
            problem.status, problem.detail, instance=instance, request_id=exchange.id
        )
        return problem_answer(problem.status, document, list(problem.headers.items()))

    def edge_headers(
        self, exchange: Exchange, headers: list[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        """An answer's headers as the client gets them: the gateway's own set over the
        answer's (the request id, the rate-limit window, CORS, one Vary naming Origin)."""
        window = exchange.window
        replaced = OWN_HEADERS_429 if window is not None and exchange.status == 429 else OWN_HEADERS
        if window is not None:
            replaced = replaced | {"ratelimit-reset"}
        kept, vary = [], []
        for name, value in headers:
            lower = name.lower()
            if lower == "vary":
                vary.append(value)
            elif lower not in replaced:
                kept.append((name, value))
        kept.append(("X-Request-ID", exchange.id))
        if window is not None:
            kept.extend(rate_limit_headers(window, exchange.status))
        if not exchange.cors_done:
            kept.extend(self.cors.headers(exchange.headers.get("origin")))
        kept.append(("Vary", merged_vary(vary)))
        if exchange.close:
            kept.append(("Connection", "close"))
        return kept

    async def send_answer(self, exchange: Exchange, answer: Answer, send: Send) -> None:
        exchange.status = answer.status
        headers = self.edge_headers(exchange, answer.headers)
        await send(
            {"type": "http.response.start", "status": answer.status, "headers": _encoded(headers)}
        )
        body = answer.body
        if isinstance(body, bytes):
            await send({"type": "http.response.body", "body": body})
            return
        async for chunk in body:  # a break mid-stream ends the connection (uvicorn's rule)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


class Exchange:
    """One request's state along the path."""

    __slots__ = ("close", "cors_done", "headers", "id", "scope", "status", "window")

    def __init__(self, scope: Scope, headers: dict[str, str], request_id: str) -> None:
        self.scope = scope
        self.headers = headers
        self.id = request_id
        self.status = 500
        self.window: Any = None
        self.close = False  # the rest of the request is not read: the connection must end
        self.cors_done = False  # a preflight's answer has its own CORS headers


def clean_path(raw_path: bytes) -> str:
    """The path as the gateway routes it, or 400: no dot segments, no encoded slash or
    backslash, nothing that decodes to a control character. Such a path is refused rather
    than normalised: what a service behind would make of it is not the gateway's to guess."""
    lowered = raw_path.lower()
    if b"%2f" in lowered or b"%5c" in lowered or b"\\" in raw_path:
        raise Problem(400, "Encoded slashes and backslashes are not allowed in the path.")
    decoded = unquote_to_bytes(raw_path)
    if any(segment in (b".", b"..") for segment in decoded.split(b"/")):
        raise Problem(400, "Dot segments are not allowed in the path.")
    if any(byte < 0x20 or byte == 0x7F for byte in decoded):
        raise Problem(400, "Control characters are not allowed in the path.")
    return decoded.decode("latin-1")


def _own_label(path: str) -> str:
    return next((r for r in OWN_ROUTES if path == r or path.startswith(r + "/")), "<unmatched>")


def _peer(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else ""


def _unauthorized(detail: str) -> Problem:
    return Problem(401, detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def _encoded(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]


def _service_url(config: Any, name: str) -> str:
    url = config.get(f"{name.upper()}_SERVICE_URL")
    if not url:
        raise RuntimeError(f"route to {name!r} needs {name.upper()}_SERVICE_URL")
    return str(url)
