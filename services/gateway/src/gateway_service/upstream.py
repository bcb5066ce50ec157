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

from gateway_service import connections
from gateway_service.breaker import STATE_VALUES, CircuitBreaker, CircuitOpen
from gateway_service.connections import (
    Answer,
    AnswerBroken,
    AnswerTimedOut,
    ConnectFailed,
    ConnectTimedOut,
)
from shared.metrics import counter, gauge

log = logging.getLogger(__name__)

IDEMPOTENT = frozenset({"GET", "HEAD"})


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
        self._slots = threading.BoundedSemaphore(max_in_flight)
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
        try:
            self.breaker.before_call()
        except CircuitOpen as exc:
            self._errors.labels(self.name, "circuit_open").inc()
            raise UpstreamError(
                503,
                f"The {self.name} service is failing; calls are paused for a while.",
                {"Retry-After": str(int(exc.retry_after + 0.999))},
            ) from exc
        try:
            with self._slot():
                response = self._send(method, path, headers, body, stream, read_timeout)
        except UpstreamError as exc:
            if exc.status == 503:  # saturated here: not the upstream's fault
                self.breaker.release_probe()
            else:
                self.breaker.record_failure()
            raise
        except BaseException:
            self.breaker.release_probe()
            raise
        if response.status in (502, 503, 504):
            self.breaker.record_failure()
        else:
            self.breaker.record_success()
        return response

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        """The bulkhead: a quick 503 rather than one more thread stuck on this upstream."""
        if not self._slots.acquire(blocking=False):
            self._errors.labels(self.name, "saturated").inc()
            raise UpstreamError(
                503,
                f"Too many requests are waiting on the {self.name} service.",
                {"Retry-After": "1"},
            )
        try:
            yield
        finally:
            self._slots.release()

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
            except (ConnectFailed, AnswerBroken) as exc:
                self._errors.labels(self.name, "connection").inc()
                if attempt == attempts:
                    log.warning(
                        "upstream %s unreachable: %s",
                        self.name,
                        exc,
                        extra={"upstream": self.name},
                    )
                    raise UpstreamError(502, f"The {self.name} service is unavailable.") from exc
            except (ConnectTimedOut, AnswerTimedOut) as exc:
                self._errors.labels(self.name, "timeout").inc()
                log.warning("upstream %s timed out", self.name, extra={"upstream": self.name})
                detail = f"The {self.name} service did not answer in time."
                raise UpstreamError(504, detail) from exc
        raise AssertionError("unreachable")

    def probe(self, path: str, read_timeout: float = 2.0) -> int:
        """A health probe: passes an open circuit, and closes it when the upstream answers 200.

        Probes never count as failures, so the readiness polling of a starting stack cannot
        open the circuit before the first client request.
        """
        with self._slot():
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
