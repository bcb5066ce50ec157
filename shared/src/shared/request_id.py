"""The X-Request-ID convention: keep a well-formed client id, otherwise mint one."""

from __future__ import annotations

import logging
import os
import threading
import time

from flask import Flask, Response, g, request

from shared.request_ids import HEADER, accept_or_mint

__all__ = [
    "HEADER",
    "accept_or_mint",
    "current_request_id",
    "init_request_id",
    "log_access",
]

access_log = logging.getLogger("access")


def current_request_id() -> str | None:
    return g.get("request_id")


def init_request_id(app: Flask, log_requests: bool = True) -> None:
    @app.before_request
    def assign_request_id() -> None:
        g.request_id = accept_or_mint(request.headers.get(HEADER))
        g.request_started = time.perf_counter()

    @app.after_request
    def echo_request_id(response: Response) -> Response:
        request_id = g.get("request_id") or accept_or_mint(request.headers.get(HEADER))
        g.request_id = request_id
        response.headers[HEADER] = request_id
        if log_requests:
            started = g.get("request_started")
            elapsed_ms = (time.perf_counter() - started) * 1000 if started else None
            log_access(request.method, request.path, response.status_code, elapsed_ms)
        return response


def log_access(
    method: str,
    path: str,
    status: int,
    elapsed_ms: float | None,
    request_id: str | None = None,
) -> None:
    """The access log line every answer gets (request_id: when no Flask request is current)."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    duration_ms = round(elapsed_ms, 2) if elapsed_ms is not None else None
    record = _access_record((method, path, status))
    attrs = record.__dict__
    attrs["method"] = method
    attrs["path"] = path
    attrs["status"] = status
    attrs["duration_ms"] = duration_ms
    if request_id is not None:
        attrs["request_id"] = request_id
    access_log.handle(record)


class _AccessRecordTemplate:
    """The attributes every access record shares, worked out once per process.

    logging.Logger.info() walks the stack for a caller's file and line that no access line
    shows, and a LogRecord works out the same file name, module, process and process name
    for every record (one getpid() system call each). Access records are the one kind
    logged per request, so they start as a copy of these and get only the time, the thread
    and their own fields. A record factory installed with logging.setLogRecordFactory()
    is still used, the usual way.
    """

    def __init__(self) -> None:
        self.attrs: dict[str, object] | None = None
        os.register_at_fork(after_in_child=self.forget)

    def forget(self) -> None:
        self.attrs = None  # a forked child has its own pid

    def record(self, args: tuple[object, ...]) -> logging.LogRecord:
        if logging.getLogRecordFactory() is not logging.LogRecord:
            return access_log.makeRecord(
                access_log.name, logging.INFO, __file__, 0, _ACCESS_MESSAGE, args, None
            )
        attrs = self.attrs
        if attrs is None:
            model = logging.LogRecord(
                access_log.name, logging.INFO, __file__, 0, _ACCESS_MESSAGE, (), None
            )
            attrs = self.attrs = {
                key: value
                for key, value in vars(model).items()
                if key not in ("created", "msecs", "relativeCreated", "thread", "threadName")
            }
        record = logging.LogRecord.__new__(logging.LogRecord)
        own = record.__dict__
        own.update(attrs)
        now = time.time()
        own["args"] = args
        own["created"] = now
        own["msecs"] = int((now - int(now)) * 1000) + 0.0
        own["relativeCreated"] = (now - _LOGGING_STARTED) * 1000
        own["thread"] = threading.get_ident()
        own["threadName"] = threading.current_thread().name
        return record


_ACCESS_MESSAGE = "%s %s %s"
_LOGGING_STARTED: float = logging._startTime  # type: ignore[attr-defined]
_access_record = _AccessRecordTemplate().record
