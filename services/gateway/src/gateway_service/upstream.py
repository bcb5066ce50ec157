"""Calling one upstream service from the edge's loop: aiohttp, timeouts, a breaker, a bulkhead.

Two aiohttp sessions per upstream. GET, HEAD and OPTIONS use kept-alive pooled
connections; aiohttp sends such a request once more when its connection breaks before the
answer (a pooled connection the service closed in the meantime breaks that way). Every
other method is sent on a connection of its own (`force_close`), so it is never written
into a pooled connection that may already be closed. Any request whose connection could
not be made is tried once more: no byte of it has left. When no usable answer comes, the
client gets a problem: 502, 503 or 504.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any, NamedTuple

import aiohttp
from yarl import URL

from gateway_service.breaker import STATE_VALUES, CircuitBreaker, CircuitOpen
from gateway_service.forwarding import response_headers
from shared.metrics import counter, gauge
from shared.problems import PROBLEM_MIMETYPE, Problem, problem_body

log = logging.getLogger(__name__)

POOLED = frozenset({"GET", "HEAD", "OPTIONS"})
CHUNK = 64 * 1024
LARGE_BODY = 1024 * 1024
# Answers up to this size are read whole (one write to the client); larger ones stream.
SMALL_BODY = 256 * 1024
# An upstream's error answer is read at most this far to check it is a problem document.
MAX_PROBLEM_BYTES = 64 * 1024
# Upstream headers still meaningful on an error answer the gateway rewrites.
KEPT_ON_ERROR = ("www-authenticate", "retry-after", "allow", "location", "etag")
# Headers that describe a body, which a 204 or 304 answer has none of.
BODY_HEADERS = frozenset({"content-length", "content-type", "content-encoding"})


class Answer(NamedTuple):
    """What leaves for the client: status, headers, and the body (bytes or a stream)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes | AsyncIterator[bytes]


def _errors() -> Any:
    return counter(
        "gateway_upstream_errors_total",
        "Upstream calls that got no answer, by upstream and kind.",
        ("upstream", "kind"),
    )


def _circuit_state() -> Any:
    return gauge(
        "gateway_circuit_state",
        "Circuit breaker state per upstream: 0 closed, 1 half-open, 2 open (worst worker).",
        ("upstream",),
    )


class Upstream:
    def __init__(
        self,
        name: str,
        base_url: str,
        connect_timeout: float = 1.0,
        read_timeout: float = 10.0,
        max_in_flight: int = 512,
        failure_threshold: int = 5,
        reset_seconds: float = 30.0,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout
        )
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self._errors = _errors()
        state = _circuit_state().labels(name)
        state.set(0)
        self.breaker = CircuitBreaker(
            failure_threshold, reset_seconds, on_change=lambda s: state.set(STATE_VALUES[s])
        )
        self._pooled: aiohttp.ClientSession | None = None
        self._fresh: aiohttp.ClientSession | None = None

    def _session(self, pooled: bool) -> aiohttp.ClientSession:
        """The session for a call (made on first use, on the loop that uses it)."""
        session = self._pooled if pooled else self._fresh
        if session is None:
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, force_close=not pooled),
                timeout=self.timeout,
                auto_decompress=False,  # bodies pass as the service encoded them
                # One session speaks for every client: a cookie in one client's answer is
                # relayed to that client and never kept, or it would ride on the next
                # client's requests to the same service.
                cookie_jar=aiohttp.DummyCookieJar(),
                # Only the client's own headers (and the gateway's) go upstream.
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            )
            if pooled:
                self._pooled = session
            else:
                self._fresh = session
        return session

    async def close(self) -> None:
        for session in (self._pooled, self._fresh):
            if session is not None:
                await session.close()
        self._pooled = self._fresh = None

    async def call(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        request_id: str,
        instance: str,
    ) -> Answer:
        """Send one request and shape its answer for the client; Problem when none came."""
        try:
            self.breaker.before_call()
        except CircuitOpen as exc:
            self._errors.labels(self.name, "circuit_open").inc()
            raise Problem(
                503,
                f"The {self.name} service is failing; calls are paused for a while.",
                headers={"Retry-After": str(int(exc.retry_after + 0.999))},
            ) from exc
        if self.in_flight >= self.max_in_flight:
            self.breaker.release_probe()
            self._errors.labels(self.name, "saturated").inc()
            raise Problem(
                503,
                f"Too many requests are waiting on the {self.name} service.",
                headers={"Retry-After": "1"},
            )
        self.in_flight += 1
        try:
            response = await self._send(method, target, headers, body)
        except Problem:
            self.breaker.record_failure()
            raise
        except BaseException:
            self.breaker.release_probe()
            raise
        finally:
            self.in_flight -= 1
        if response.status in (502, 503, 504):
            self.breaker.record_failure()
        else:
            self.breaker.record_success()
        try:
            return await self._answer(response, method, request_id, instance)
        except BaseException:
            response.close()
            raise

    async def _send(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> aiohttp.ClientResponse:
        pooled = method in POOLED
        url = URL(self.base_url + target, encoded=True)  # the client's own encoding
        for attempt in (1, 2):
            # aiohttp writes a large body from a file-like in parts, not in one piece.
            data = io.BytesIO(body) if len(body) > LARGE_BODY else (body or None)
            try:
                return await self._session(pooled).request(
                    method, url, headers=headers, data=data, allow_redirects=False
                )
            except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
                self._errors.labels(self.name, "timeout").inc()
                log.warning("upstream %s timed out", self.name, extra={"upstream": self.name})
                raise Problem(504, f"The {self.name} service did not answer in time.") from exc
            except aiohttp.ClientConnectionError as exc:
                self._errors.labels(self.name, "connection").inc()
                if attempt == 1 and isinstance(exc, aiohttp.ClientConnectorError):
                    continue  # the connection was never made: nothing of it was sent
                log.warning(
                    "upstream %s unreachable: %s", self.name, exc, extra={"upstream": self.name}
                )
                raise Problem(502, f"The {self.name} service is unavailable.") from exc
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def _answer(
        self, response: aiohttp.ClientResponse, method: str, request_id: str, instance: str
    ) -> Answer:
        status = response.status
        raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.raw_headers]
        if status >= 400:
            data = await self._read(response, MAX_PROBLEM_BYTES + 1)
            response.release()
            return error_answer(status, raw, data, self.name, request_id, instance)
        headers = response_headers(raw, response.headers.get("Connection"))
        if status in (204, 304) or method == "HEAD":
            if status in (204, 304):
                headers = [(k, v) for k, v in headers if k.lower() not in BODY_HEADERS]
            response.release()
            return Answer(status, headers, b"")
        length = response.content_length
        if length is not None and length <= SMALL_BODY:
            data = await self._read(response, None)
            response.release()
            return Answer(status, headers, data)
        return Answer(status, headers, self._stream(response))

    async def _read(self, response: aiohttp.ClientResponse, limit: int | None) -> bytes:
        """The answer's body (up to `limit` bytes); a break or a stall is the service's
        failure: 502 or 504."""
        try:
            if limit is None:
                return await response.read()
            parts, size = [], 0
            while size < limit and (part := await response.content.read(limit - size)):
                parts.append(part)
                size += len(part)
            return b"".join(parts)
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise Problem(
                504, f"The {self.name} service did not finish its answer in time."
            ) from exc
        except aiohttp.ClientError as exc:
            raise Problem(502, f"The {self.name} service broke off its answer.") from exc

    @staticmethod
    async def _stream(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
        try:
            async for chunk in response.content.iter_chunked(CHUNK):
                yield chunk
        finally:
            response.release()


def error_answer(
    status: int,
    headers: list[tuple[str, str]],
    raw: bytes,
    name: str,
    request_id: str,
    instance: str,
) -> Answer:
    """Every error leaves as problem+json carrying the request id, whatever the upstream sent.

    `raw`: the upstream's body, read up to one byte past MAX_PROBLEM_BYTES.
    """
    lowered = {k.lower(): v for k, v in headers}
    document = _problem_document(status, lowered, raw) if len(raw) <= MAX_PROBLEM_BYTES else None
    if document is None:
        # HTML, plain text, JSON of another shape or nothing: the body is never shown.
        kept = [(k, v) for k, v in headers if k.lower() in KEPT_ON_ERROR]
        document = problem_body(
            status,
            f"The {name} service answered {status}.",
            instance=instance,
            request_id=request_id,
        )
        return problem_answer(status, document, kept)
    if not document.get("request_id"):
        document["request_id"] = request_id
    relayed = [
        (k, v)
        for k, v in response_headers(headers, lowered.get("connection"))
        if k.lower() not in BODY_HEADERS
    ]
    # An OAuth error (RFC 6749 5.2) is a problem document served as application/json, the
    # media type OAuth clients expect: it keeps it.
    media_type = lowered["content-type"].split(";")[0].strip()
    return problem_answer(status, document, relayed, media_type)


def problem_answer(
    status: int,
    document: dict[str, Any],
    headers: list[tuple[str, str]] | None = None,
    media_type: str = PROBLEM_MIMETYPE,
) -> Answer:
    body = json.dumps(document).encode()
    content = [("Content-Type", media_type), ("Content-Length", str(len(body)))]
    return Answer(status, [*(headers or []), *content], body)


def _problem_document(status: int, headers: dict[str, str], raw: bytes) -> dict[str, Any] | None:
    """The upstream's problem document: problem+json, or plain JSON with the problem members."""
    media_type = headers.get("content-type", "").split(";")[0].strip()
    if media_type not in (PROBLEM_MIMETYPE, "application/json"):
        return None
    try:
        document = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(document, dict) or document.get("status") != status:
        return None
    if media_type != PROBLEM_MIMETYPE and not {"type", "title", "detail"} <= document.keys():
        return None  # JSON of another shape: never shown
    return document


async def close_all(upstreams: Mapping[str, Upstream]) -> None:
    await asyncio.gather(*(u.close() for u in upstreams.values()))
