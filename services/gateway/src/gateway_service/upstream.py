"""Calling one upstream service: a keep-alive pool, timeouts, one retry, a breaker, a bulkhead.

The pool is gateway_service.connections (http.client connections, no urllib3 or requests
layer above them): measurably cheaper on the proxy's hot path.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from gateway_service import connections, loop_connections
from gateway_service.breaker import STATE_VALUES, CircuitBreaker, CircuitOpen
from gateway_service.connections import (
    Answer,
    AnswerBroken,
    AnswerTimedOut,
    ConnectFailed,
    ConnectTimedOut,
)
from gateway_service.loop_connections import LoopAnswer
from shared.metrics import counter, gauge

log = logging.getLogger(__name__)

IDEMPOTENT = frozenset({"GET", "HEAD"})
TRANSPORT_ERRORS = (ConnectFailed, AnswerBroken, ConnectTimedOut, AnswerTimedOut)


class UpstreamError(Exception):
    """The upstream gave no answer: carries the status the client gets instead."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


def _upstream_errors() -> Any:
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
        pool_size: int = 32,
        max_in_flight: int = 24,
        max_in_flight_on_loop: int = 512,
        failure_threshold: int = 5,
        reset_seconds: float = 30.0,
    ) -> None:
        self.name = name
        parts = urlsplit(base_url)
        self.base_path = parts.path.rstrip("/")
        self.read_timeout = read_timeout
        self.pool = connections.ConnectionPool(
            parts.scheme, parts.hostname or "127.0.0.1", parts.port, connect_timeout, pool_size
        )
        self.loop_pool: loop_connections.LoopConnectionPool | None = None
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._loop_slots = threading.BoundedSemaphore(max_in_flight_on_loop)
        self._errors = _upstream_errors()
        state = _circuit_state().labels(name)
        state.set(0)
        self.breaker = CircuitBreaker(
            failure_threshold, reset_seconds, on_change=lambda s: state.set(STATE_VALUES[s])
        )

    def request(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        stream: bool = False,
        read_timeout: float | None = None,
    ) -> Answer:
        """Send one request; raise UpstreamError (502, 503 or 504) when no answer comes.

        stream=False reads the whole answer before returning (and releases its connection).
        """
        with self._call(self._slots):
            response = self._send(method, path, headers, body, stream, read_timeout)
        self._settle(response.status)
        return response

    async def request_on_loop(
        self, method: str, path: str, headers: Mapping[str, str]
    ) -> LoopAnswer:
        """request() for code on the event loop, for a request without a body: the same
        breaker, bulkhead, timeouts, retry and errors, over the loop's own pool."""
        with self._call(self._loop_slots):
            answer = await self._send_on_loop(method, path, headers)
        self._settle(answer.status)
        return answer

    @contextlib.contextmanager
    def _call(self, slots: threading.BoundedSemaphore) -> Iterator[None]:
        """One call through the breaker and the bulkhead; a call that got no answer is
        settled with the breaker here, one with an answer by _settle()."""
        self._admit()
        try:
            with self._slot(slots):
                yield
        except BaseException as exc:
            self._settle_failure(exc)
            raise

    def _admit(self) -> None:
        try:
            self.breaker.before_call()
        except CircuitOpen as exc:
            self._errors.labels(self.name, "circuit_open").inc()
            raise UpstreamError(
                503,
                f"The {self.name} service is failing; calls are paused for a while.",
                {"Retry-After": str(int(exc.retry_after + 0.999))},
            ) from exc

    def _settle(self, status: int) -> None:
        if status in (502, 503, 504):
            self.breaker.record_failure()
        else:
            self.breaker.record_success()

    def _settle_failure(self, exc: BaseException) -> None:
        if isinstance(exc, UpstreamError) and exc.status != 503:
            self.breaker.record_failure()
        else:  # saturated here, or not the upstream's doing: no verdict on it
            self.breaker.release_probe()

    @contextlib.contextmanager
    def _slot(self, slots: threading.BoundedSemaphore) -> Iterator[None]:
        """The bulkhead: a quick 503 rather than one more thread (or, on the loop, one more
        waiting client) stuck on this upstream."""
        if not slots.acquire(blocking=False):
            self._errors.labels(self.name, "saturated").inc()
            raise UpstreamError(
                503,
                f"Too many requests are waiting on the {self.name} service.",
                {"Retry-After": "1"},
            )
        try:
            yield
        finally:
            slots.release()

    def _send(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | None,
        body: Any,
        stream: bool,
        read_timeout: float | None,
    ) -> Answer:
        timeout = self.read_timeout if read_timeout is None else read_timeout
        # Only GET and HEAD without a one-shot body stream may be sent twice.
        replayable = method in IDEMPOTENT and (body is None or isinstance(body, bytes))
        attempts = 2 if replayable else 1
        for attempt in range(1, attempts + 1):
            try:
                answer = connections.send(
                    self.pool, method, self.base_path + path, dict(headers or {}), body, timeout
                )
                if not stream:
                    answer.data  # noqa: B018 - read whole now, the connection released
                return answer
            except TRANSPORT_ERRORS as exc:
                self._no_answer(exc, last_attempt=attempt == attempts)
        raise AssertionError("unreachable")

    async def _send_on_loop(self, method: str, path: str, headers: Mapping[str, str]) -> LoopAnswer:
        if self.loop_pool is None:  # made on the loop that uses it
            self.loop_pool = loop_connections.LoopConnectionPool(
                self.pool.scheme,
                self.pool.host,
                self.pool.port,
                self.pool.connect_timeout,
                self.pool.maxsize,
            )
        attempts = 2 if method in IDEMPOTENT else 1
        for attempt in range(1, attempts + 1):
            try:
                return await loop_connections.send(
                    self.loop_pool, method, self.base_path + path, dict(headers), self.read_timeout
                )
            except TRANSPORT_ERRORS as exc:
                self._no_answer(exc, last_attempt=attempt == attempts)
        raise AssertionError("unreachable")

    def _no_answer(self, exc: Exception, last_attempt: bool) -> None:
        """Count a call that got no answer; raise the client's error unless it is retried."""
        if isinstance(exc, ConnectFailed | AnswerBroken):
            self._errors.labels(self.name, "connection").inc()
            if not last_attempt:
                return
            log.warning(
                "upstream %s unreachable: %s", self.name, exc, extra={"upstream": self.name}
            )
            raise UpstreamError(502, f"The {self.name} service is unavailable.") from exc
        self._errors.labels(self.name, "timeout").inc()
        log.warning("upstream %s timed out", self.name, extra={"upstream": self.name})
        raise UpstreamError(504, f"The {self.name} service did not answer in time.") from exc

    def probe(self, path: str, read_timeout: float = 2.0) -> int:
        """A health probe: passes an open circuit, and closes it when the upstream answers 200.

        Probes never count as failures, so the readiness polling of a starting stack cannot
        open the circuit before the first client request.
        """
        with self._slot(self._slots):
            status = self._send("GET", path, None, None, False, read_timeout).status
        if status == 200:
            self.breaker.record_success()
        return status

    def get_json(self, path: str, headers: Mapping[str, str] | None = None, **kwargs: Any) -> Any:
        """GET a JSON document; UpstreamError when there is no answer, ValueError when not JSON."""
        response = self.request("GET", path, headers, **kwargs)
        if response.status != 200:
            raise UpstreamStatus(response.status, response.data)
        return response.json()


class UpstreamStatus(Exception):
    """The upstream answered, but not with 200."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"upstream answered {status}")
        self.status = status
        self.body = body
