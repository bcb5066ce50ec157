"""Logging to stdout: one JSON object a line, tagged with the service and the request id."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from flask import g, has_request_context

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

    def _timestamp(self, second: int) -> str:
        cached = self._second
        if cached[0] != second:
            cached = self._second = (
                second,
                time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)),
            )
        return cached[1]


class StdoutHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout is at the time, so a swapped stdout never breaks logging."""

    _suite = True

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:
        pass


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
