"""Prometheus metrics: request counts and latencies by route template and status, at /metrics.

Under gunicorn each worker is its own process. So that a scrape sees the whole service
and not one worker, the metrics use prometheus_client's multiprocess mode with a
directory per gunicorn master (PROMETHEUS_MULTIPROC_DIR, or one made per run in the
temporary directory). Outside gunicorn (tests, `flask run`) they live in the process.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from flask import Flask, Response, g, request

from shared import metrics_files

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_metrics: dict[str, Any] = {}


def _choose_multiprocess_dir() -> None:
    """Must run before prometheus_client is first imported: it reads the variable then."""
    if "prometheus_client" in sys.modules or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    if "gunicorn" not in sys.modules:
        return
    # Workers share their master's pid as parent: one fresh directory per service run.
    path = metrics_files.directory(os.getppid())
    os.makedirs(path, exist_ok=True)
    os.environ[metrics_files.ENV] = path


# This process's pid, kept up to date across forks: prometheus_client's multiprocess values
# check it on every update (a dozen getpid() system calls a request otherwise).
_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


def _current_pid() -> int:
    return _pid


def _use_cached_pid() -> None:
    """Multiprocess values that read the pid from _current_pid (set before any metric)."""
    from prometheus_client import values

    if getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.MultiProcessValue(process_identifier=_current_pid)


def metric(kind: str, name: str, documentation: str, labels: tuple[str, ...], **kwargs: Any) -> Any:
    """A process-wide metric, created once however many apps (tests) ask for it."""
    if name not in _metrics:
        _choose_multiprocess_dir()
        if not _metrics:
            _use_cached_pid()
        import prometheus_client

        factory = getattr(prometheus_client, kind)
        _metrics[name] = factory(name, documentation, labels, **kwargs)
    return _metrics[name]


def counter(name: str, documentation: str, labels: tuple[str, ...]) -> Any:
    return metric("Counter", name, documentation, labels)


def gauge(name: str, documentation: str, labels: tuple[str, ...], mode: str = "livemax") -> Any:
    # In multiprocess mode a gauge is per worker; "livemax" reports the worst live worker
    # (gunicorn's child_exit hook forgets dead ones: deploy/gunicorn.conf.py).
    return metric("Gauge", name, documentation, labels, multiprocess_mode=mode)


def _request_metrics() -> tuple[Any, Any]:
    requests_total = counter(
        "http_requests_total",
        "HTTP requests answered, by route template and status.",
        ("service", "method", "route", "status"),
    )
    latency = metric(
        "Histogram",
        "http_request_duration_seconds",
        "Time to answer an HTTP request (until the response starts), by route template.",
        ("service", "method", "route"),
        buckets=LATENCY_BUCKETS,
    )
    return requests_total, latency


# The labelled children of the request metrics, by (service, method, route, status).
_request_children: dict[tuple[str, str, str, int], tuple[Any, Any]] = {}


def record_request(
    service: str, method: str, route: str, status: int, seconds: float | None
) -> None:
    """Count one answer; `route` is the template (/api/items/<int:item_id>), never the raw
    path, so label values stay bounded."""
    key = (service, method, route, status)
    children = _request_children.get(key)
    if children is None:  # prometheus_client's labels() validates and locks on every call
        requests_total, latency = _request_metrics()
        children = _request_children[key] = (
            requests_total.labels(service, method, route, str(status)),
            latency.labels(service, method, route),
        )
    children[0].inc()
    if seconds is not None:
        children[1].observe(seconds)


def init_metrics(app: Flask) -> None:
    service = app.config["SERVICE_NAME"]
    _request_metrics()  # now, so the multiprocess directory is chosen before any import

    @app.before_request
    def start_timer() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def record(response: Response) -> Response:
        started = g.get("metrics_started")
        route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        elapsed = time.perf_counter() - started if started is not None else None
        record_request(service, request.method, route, response.status_code, elapsed)
        return response

    app.add_url_rule("/metrics", "metrics", metrics_view)


def metrics_view() -> Response:
    import prometheus_client
    from prometheus_client import multiprocess

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = prometheus_client.REGISTRY
    return Response(
        prometheus_client.generate_latest(registry), mimetype=prometheus_client.CONTENT_TYPE_LATEST
    )
