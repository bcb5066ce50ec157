"""Logging to stdout: one JSON object a line, tagged with the service and the request id."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from typing import Any

from flask import g, has_request_context

from shared.turns import TurnBatch

ROOT = logging.getLogger()
_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "service",
    "request_id",
}


class ContextFilter(logging.Filter):
    """Stamp every record with the service name and the current request id, if any."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        request_id = None
        try:
            if has_request_context():
                request_id = g.get("request_id")
        except Exception:
            request_id = None
        record.request_id = getattr(record, "request_id", None) or request_id
        return True


def _line_encoder() -> Callable[[dict[str, Any]], str]:
    """json.dumps(entry, default=str) for a log entry, without building a new encoder for
    every line the way JSONEncoder.encode() does (a log entry is never self-referencing,
    so the circular check goes too)."""
    make = getattr(json.encoder, "c_make_encoder", None)  # not in the type stubs
    if make is None:  # no C accelerator in this Python
        return json.JSONEncoder(default=str).encode
    encoder = make(
        None, str, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True
    )
    return lambda entry: "".join(encoder(entry, 0))


class JsonFormatter(logging.Formatter):
    _encode = staticmethod(_line_encoder())
    _second: tuple[int, str] = (-1, "")  # the last second formatted, and its text

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": f"{self._timestamp(int(record.created))}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": getattr(record, "service", None),
            "logger": record.name,
            "request_id": getattr(record, "request_id", None),
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return self._encode(entry)

    def access_line(
        self,
        service: str | None,
        logger: str,
        request_id: str,
        fields: tuple[str, str, int, float | None],
        created: float,
    ) -> str:
        """What format() makes of an access record (message "<method> <path> <status>",
        extra fields method, path, status and duration_ms, in that order), made without
        the record. `fields`: method, path, status, duration_ms."""
        method, path, status, duration_ms = fields
        second = int(created)
        quote = encode_basestring_ascii
        return (
            f'{{"ts": "{self._timestamp(second)}.{int((created - second) * 1000):03d}Z", '
            f'"level": "INFO", "service": {"null" if service is None else quote(service)}, '
            f'"logger": {quote(logger)}, "request_id": {quote(request_id)}, '
            f'"message": {quote(f"{method} {path} {status}")}, "method": {quote(method)}, '
            f'"path": {quote(path)}, "status": {status}, '
            f'"duration_ms": {"null" if duration_ms is None else float.__repr__(duration_ms)}}}'
        )

    def _timestamp(self, second: int) -> str:
        cached = self._second
        if cached[0] != second:
            cached = self._second = (
                second,
                time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)),
            )
        return cached[1]


class StdoutHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout is at the time, so a swapped stdout never breaks logging.

    On an event loop that asked for it (write_per_loop_turn), the lines logged during one
    turn of the loop are written together when the turn ends: one write for all the
    requests the turn answered, instead of one each. Elsewhere every line is written at once.
    """

    _suite = True

    def __init__(self) -> None:
        super().__init__()
        self._held: TurnBatch[str] | None = None
        self._turn_thread: int | None = None  # the loop's thread (cheaper to ask than the loop)

    def emit(self, record: logging.LogRecord) -> None:
        held = self.holding()
        if held is None:
            super().emit(record)
            return
        try:
            held.add(self.format(record) + self.terminator)
        except Exception:
            self.handleError(record)

    def holding(self) -> TurnBatch[str] | None:
        """Where emit() would put a line now: the loop turn's batch, or None (written now)."""
        held = self._held
        if held is None or threading.get_ident() != self._turn_thread or not held.loop.is_running():
            return None
        return held

    def _write(self, lines: list[str]) -> None:
        self.acquire()
        try:
            self.stream.write("".join(lines))
            self.stream.flush()
        finally:
            self.release()

    def flush(self) -> None:
        self.acquire()
        try:
            if self._held is not None:
                self._held.flush()
            self.stream.flush()
        finally:
            self.release()

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:
        pass


def write_access_line(
    logger: logging.Logger, request_id: str, fields: tuple[str, str, int, float | None]
) -> bool:
    """Put an access line straight into the loop turn's batch of the suite's handler, when
    the record would reach nothing else: returns False (log the record) otherwise.

    An access line is logged for every request, and on the gateway's loop logging's
    machinery (the record, the logger's and the handler's filters, the handler lock, the
    formatter's generic walk over the record) cost several times the line itself. When the
    configuration is the suite's own (configure_logging: one StdoutHandler with its
    ContextFilter and JsonFormatter on the root logger, nothing on `logger`, the standard
    record factory) and the line would be held for the end of a loop turn anyway, the same
    line is made from the fields. Any other configuration (a handler or filter added, a
    record factory, text format) gets the record, as before.
    """
    if logger.handlers or logger.filters or not logger.propagate or logger.parent is not ROOT:
        return False
    handlers = ROOT.handlers
    if len(handlers) != 1 or logging.getLogRecordFactory() is not logging.LogRecord:
        return False
    handler = handlers[0]
    if type(handler) is not StdoutHandler or handler.level > logging.INFO:
        return False
    formatter, filters = handler.formatter, handler.filters
    if type(formatter) is not JsonFormatter or len(filters) != 1:
        return False
    context = filters[0]
    if type(context) is not ContextFilter or (held := handler.holding()) is None:
        return False
    status, duration_ms = fields[2:]
    if type(status) is not int or not (duration_ms is None or type(duration_ms) is float):
        return False  # what the f-string writes is json's own for these types only
    line = formatter.access_line(context.service, logger.name, request_id, fields, time.time())
    held.add(line + handler.terminator)
    return True


def write_per_loop_turn(loop: asyncio.AbstractEventLoop) -> None:
    """Hold the log lines of this loop's thread until the end of each turn of the loop
    (see StdoutHandler). Call it from the loop's thread."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, StdoutHandler):
            handler._held = TurnBatch(loop, handler._write)
            handler._turn_thread = threading.get_ident()


TEXT_FORMAT = "%(asctime)s %(levelname)s [%(service)s] [%(request_id)s] %(name)s: %(message)s"


def configure_logging(service: str, level: str = "INFO", fmt: str | None = "json") -> None:
    """Route the root logger to stdout once per process; later calls only adjust the level."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_suite", False)), None)
    if handler is None:
        handler = StdoutHandler()
        for old in list(root.handlers):
            root.removeHandler(old)
        root.addHandler(handler)
    handler.filters = [ContextFilter(service)]
    handler.setFormatter(JsonFormatter() if fmt != "text" else logging.Formatter(TEXT_FORMAT))
    try:
        root.setLevel(level)
    except ValueError:
        root.setLevel(logging.INFO)
        root.warning("unknown LOG_LEVEL %r, using INFO", level)
    # Werkzeug's access log duplicates ours and is not JSON.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
