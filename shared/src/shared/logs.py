"""Logging to stdout: one JSON object a line, tagged with the service and the request id."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from flask import g, has_request_context

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


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
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
        return json.dumps(entry, default=str)


class StdoutHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout is at the time, so a swapped stdout never breaks logging."""

    _suite = True

    def __init__(self) -> None:
        super().__init__()

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
