"""The fast path: the plain proxied request served straight from WSGI, without Flask's cycle.

Most traffic through a gateway is the plain case: a routed path, a body of announced
length if any, and either no token or a bearer token the edge has already verified once.
For that case Flask's request cycle (context push, URL matching, a dozen hooks,
Flask-Limiter's limit evaluation) cost more CPU than the proxying itself. This middleware serves
exactly that case with the same parts the Flask path uses: the verifier's cache and
revocation list, Flask-Limiter's own storage and key scheme (one Redis round trip for the
revocation marks and the count), flask-cors's own header computation, the upstream pools
and their breakers, the error conversion, the access log and the metrics. Its answers are
the Flask path's answers.

Every other request, and any request whose check does not come out plainly (a revoked
token, a limit reached, Redis away), goes to the Flask app untouched, so every refusal
is written in one place. The only side effect before such a hand-over is the rate-limit
count, which the Flask path then counts again: a client already over its limit, or with
a revoked token, is refused either way.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import redis
from flask import Flask
from flask_limiter import Limiter
from limits import RateLimitItem, parse
from werkzeug.datastructures import EnvironHeaders
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wsgi import get_host, get_input_stream

from gateway_service.cors import cors_headers, merged_vary
from gateway_service.edge_auth import CachingTokenVerifier, edge_verifier
from gateway_service.forwarding import (
    client_address_of,
    connection_scheme,
    forwarded_headers,
    request_target,
)
from gateway_service.limit_storage import OneTripRedisStorage
from gateway_service.limits import LIMITER_KEY_PREFIX, rate_limit_headers
from gateway_service.proxy import Answer, call, problem_answer
from gateway_service.upstream import Upstream
from shared.metrics import record_request
from shared.problems import Problem, problem_body
from shared.request_id import HEADER as REQUEST_ID_HEADER
from shared.request_id import accept_or_mint, log_access
from shared.tokens import (
    InvalidToken,
    RevocationList,
    RevocationUnavailable,
    principal_from_claims,
)

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass(frozen=True)
class Route:
    prefix: str  # with its trailing slash: "/api/"
    upstream: Upstream
    endpoint: str  # the Flask endpoint of the same path: the rate limit's scope
    rule: str  # its URL rule: the metrics' route label


# Made for every request: named tuples, built in C, where frozen dataclasses set each
# field through object.__setattr__.
class Window(NamedTuple):
    """The rate-limit window a counted request reports in its RateLimit-* headers."""

    amount: int
    remaining: int
    reset_at: float


class Hit(NamedTuple):
    storage: OneTripRedisStorage
    key: str  # the counter's key, before the storage's own prefix
    expiry: int
    marks: list[str]  # the token's revocation keys, read on the same trip


class Plan(NamedTuple):
    route: Route
    claims: dict[str, Any] | None  # None: anonymous
    limit: RateLimitItem
    limit_key: str  # "user:<id>" or "addr:<client address>", as Flask-Limiter keys it
    marks: list[str]  # the token's revocation keys; none when anonymous


# Bound on the memos below; when full they start again, as the verifier's cache does.
_MEMO_ENTRIES = 10_000


def _remember(memo: dict[Any, Any], key: Any, value: Any) -> Any:
    if len(memo) >= _MEMO_ENTRIES:
        memo.clear()
    memo[key] = value
    return value


class FastPath:
    def __init__(self, app: Flask, flask_app: WSGIApp, routes: list[Route]) -> None:
        config = app.config
        self.flask_app = flask_app
        self.routes = sorted(routes, key=lambda r: len(r.prefix), reverse=True)
        self.service = config["SERVICE_NAME"]
        self.max_body = config["MAX_CONTENT_LENGTH"]
        self.networks = config["TRUSTED_NETWORKS"]
        self.refresh_paths = frozenset(config["REFRESH_TOKEN_PATHS"])
        self.user_limit = parse(config["RATE_LIMIT"])
        self.anonymous_limit = parse(config["RATE_LIMIT_ANONYMOUS"])
        self.verifier: CachingTokenVerifier = edge_verifier(app)
        self.limiter: Limiter = app.extensions["gateway_limiter"]
        self.cors_options = app.extensions["gateway_cors"]
        # What a remembered token always gives (its limit key and revocation keys), and the
        # counter key of a limit key on an endpoint: worked out once, not per request.
        self._token_keys: dict[str, tuple[str, list[str]]] = {}
        self._counter_keys: dict[tuple[str, str], str] = {}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        plan = self.plan(environ)
        if plan is None:
            return self.flask_app(environ, start_response)
        started = time.perf_counter()
        try:
            plain, window = self._count_and_check(plan)
        except (redis.RedisError, OSError, RevocationUnavailable):
            plain, window = False, None  # Redis away: the Flask path's fallbacks decide
        if not plain:
            return self.flask_app(environ, start_response)
        return self._serve(plan, window, environ, start_response, started)

    # -- which requests qualify ------------------------------------------------------------

    def plan(self, environ: dict[str, Any]) -> Plan | None:
        """A plan for a plain proxied request, or None when the Flask path must take it."""
        path = environ.get("PATH_INFO", "")
        length = environ.get("CONTENT_LENGTH") or "0"
        if (
            environ["REQUEST_METHOD"] == "OPTIONS"
            or not length.isdigit()
            or int(length) > self.max_body  # the Flask path answers 413
            or "HTTP_TRANSFER_ENCODING" in environ  # chunked: the Flask path bounds it
            or "HTTP_HOST" not in environ
            or not (path.isascii() and environ.get("QUERY_STRING", "").isascii())
            or "//" in path
            or path.endswith("/")
        ):
            return None
        route = next((r for r in self.routes if path.startswith(r.prefix)), None)
        if route is None:
            return None
        authorization = environ.get("HTTP_AUTHORIZATION")
        if authorization is None:
            peer = environ.get("REMOTE_ADDR") or ""
            address = client_address_of(peer, environ.get("HTTP_X_FORWARDED_FOR"), self.networks)
            return Plan(route, None, self.anonymous_limit, f"addr:{address}", [])
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or path in self.refresh_paths:
            return None
        token = token.strip()
        claims = self.verifier.remembered(token)  # first use: the Flask path verifies
        if claims is None:
            return None
        keys = self._token_keys.get(token)
        if keys is None:
            try:
                principal = principal_from_claims(claims)
            except InvalidToken:
                return None  # the Flask path refuses it
            keys = (f"user:{principal.id}", RevocationList.mark_keys(claims))
            _remember(self._token_keys, token, keys)
        return Plan(route, claims, self.user_limit, *keys)

    # -- the edge's checks: one Redis round trip ----------------------------------------------

    def _count_and_check(self, plan: Plan) -> tuple[bool, Window | None]:
        """Count the request and read its token's revocation marks.

        Returns whether the request is plain (else the Flask path answers: a revoked token,
        a limit reached, limits kept in memory while Redis is away) and the window to report
        (None when limits are off).
        """
        if not self.limiter.enabled:
            revocations = self.verifier.revocations
            revoked = bool(plan.claims and revocations and revocations.is_revoked(plan.claims))
            return not revoked, None
        hit = self.hit_of(plan)
        if hit is None:
            return False, None
        return self.verdict(plan, hit.storage.incr_and_read(hit.key, hit.expiry, hit.marks))

    def hit_of(self, plan: Plan) -> Hit | None:
        """What to ask Redis for this request: its rate-limit counter (as Flask-Limiter keys
        it) and its token's revocation marks. None while limits are kept in memory (Redis
        away): the Flask path's fallbacks decide."""
        storage = self.limiter.limiter.storage
        if not isinstance(storage, OneTripRedisStorage):
            return None
        # The limit follows from the limit key's kind (user: or addr:).
        scope = (plan.limit_key, plan.route.endpoint)
        key = self._counter_keys.get(scope)
        if key is None:
            key = plan.limit.key_for(LIMITER_KEY_PREFIX, *scope)
            _remember(self._counter_keys, scope, key)
        return Hit(storage, key, plan.limit.get_expiry(), plan.marks)

    @staticmethod
    def verdict(plan: Plan, counted: tuple[int, float, list[Any]]) -> tuple[bool, Window]:
        """Whether a counted request is plain (not revoked, within its limit), and its window."""
        count, reset_at, values = counted
        window = Window(plan.limit.amount, plan.limit.amount - count, reset_at)
        if plan.claims and RevocationList.revoked_by(plan.claims, values):
            return False, window
        return count <= plan.limit.amount, window

    # -- forwarding and answering ----------------------------------------------------------

    def _serve(
        self,
        plan: Plan,
        window: Window | None,
        environ: dict[str, Any],
        start_response: StartResponse,
        started: float,
    ) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        request_id = accept_or_mint(environ.get("HTTP_X_REQUEST_ID"))
        headers = self.upstream_headers(environ, request_id)
        body = None
        if environ.get("CONTENT_LENGTH"):
            length = int(environ["CONTENT_LENGTH"])
            headers["Content-Length"] = str(length)
            # Streamed as it arrives; the stream werkzeug's request.stream would give.
            stream = get_input_stream(environ, max_content_length=self.max_body)
            body = stream if length else None
        target = request_target(environ)
        try:
            status, answer_headers, content = call(
                plan.route.upstream, method, target, headers, body, request_id, path
            )
        except Problem as problem:
            status, answer_headers, content = problem_for(problem, request_id, path)
        except HTTPException as exc:  # the client's body broke off: as werkzeug says it
            refusal = Problem(exc.code or 400, exc.description)
            status, answer_headers, content = problem_for(refusal, request_id, path)
        except Exception as exc:
            status, answer_headers, content = unexpected(exc, request_id, path)
        answer_headers = self.edge_headers(environ, answer_headers, request_id, window, status)
        start_response(status_line(status), answer_headers)
        self.record(plan, environ, status, request_id, started)
        return content

    def upstream_headers(
        self,
        environ: dict[str, Any],
        request_id: str,
        incoming: Iterable[tuple[str, str]] | None = None,
    ) -> dict[str, str]:
        """The headers sent on; `incoming`: the request's own, when the caller has them
        at hand (else read from the environ, as Flask's request.headers reads them)."""
        return forwarded_headers(
            EnvironHeaders(environ).items() if incoming is None else incoming,
            peer=environ.get("REMOTE_ADDR") or "",
            host=get_host(environ),  # as werkzeug's request.host: default ports dropped
            scheme=connection_scheme(environ),
            request_id=request_id,
            networks=self.networks,
        )

    def edge_headers(
        self,
        environ: dict[str, Any],
        headers: list[tuple[str, str]],
        request_id: str,
        window: Window | None,
        status: int,
    ) -> list[tuple[str, str]]:
        """An answer's headers as the client gets them: CORS, the request id, the window."""
        if "HTTP_ORIGIN" in environ:
            headers = headers + cors_headers(self.cors_options, environ, environ["REQUEST_METHOD"])
        return _with_edge_headers(headers, request_id, window, status)

    def record(
        self, plan: Plan, environ: dict[str, Any], status: int, request_id: str, started: float
    ) -> None:
        """The access log line and the metrics, as the Flask path writes them."""
        method = environ["REQUEST_METHOD"]
        elapsed = time.perf_counter() - started
        log_access(method, environ["PATH_INFO"], status, elapsed * 1000, request_id)
        record_request(self.service, method, plan.route.rule, status, elapsed)


def status_line(status: int) -> str:
    return f"{status} {HTTP_STATUS_CODES.get(status, 'Unknown').upper()}"


def unexpected(exc: Exception, request_id: str, path: str) -> Answer:
    """As the Flask path's last-resort handler answers."""
    log.exception("unhandled error: %s", type(exc).__name__, extra={"request_id": request_id})
    failure = Problem(500, "An unexpected error occurred; quote the request id.")
    return problem_for(failure, request_id, path)


def _with_edge_headers(
    headers: list[tuple[str, str]], request_id: str, window: Window | None, status: int
) -> list[tuple[str, str]]:
    """The answer's headers with the gateway's own set over them, as the Flask hooks do:
    the request id, the rate-limit window, one Vary naming Origin."""
    own = {REQUEST_ID_HEADER: request_id}
    if window is not None:
        own.update(rate_limit_headers(window.amount, window.remaining, window.reset_at, status))
    replaced = _lowered(tuple(own))
    kept, vary = [], []
    for name, value in headers:
        lower = name.lower()
        if lower == "vary":
            vary.append(value)
        elif lower not in replaced:
            kept.append((name, value))
    own["Vary"] = merged_vary(vary)
    kept.extend(own.items())
    return kept


@functools.cache  # a handful of name sets, met on every answer
def _lowered(names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(name.lower() for name in names)


def problem_for(problem: Problem, request_id: str, path: str) -> Answer:
    document = problem_body(problem.status, problem.detail, instance=path, request_id=request_id)
    return problem_answer(problem.status, document, problem.headers.items())
