"""Fixtures for the gateway's own tests: a recording upstream on a real socket."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from gateway_service import create_app


@dataclass
class RecordingUpstream:
    """Answers what a test scripts and remembers what it was sent."""

    url: str = ""
    seen: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    body: bytes = b'{"ok": true}'
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def __call__(self, environ: dict, start_response: Any) -> Any:
        request = Request(environ)
        self.seen.append(
            {
                "method": request.method,
                "path": request.full_path.rstrip("?"),
                "headers": dict(request.headers),
                "body": request.get_data(),
            }
        )
        if request.path == "/readyz":
            return Response(json.dumps({"status": "ready"}), 200)(environ, start_response)
        time.sleep(self.delay)
        response = Response(self.body, self.status, content_type=self.content_type)
        for key, value in self.headers.items():
            response.headers[key] = value
        return response(environ, start_response)


@pytest.fixture
def upstream() -> Iterator[RecordingUpstream]:
    recorder = RecordingUpstream()
    server = make_server("127.0.0.1", 0, recorder, threaded=True)
    recorder.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield recorder
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def app(upstream: RecordingUpstream) -> Flask:
    return create_app(
        {
            "APP_ENV": "testing",
            "TESTING": True,
            "AUTH_SERVICE_URL": upstream.url,
            "CONTENT_SERVICE_URL": upstream.url,
            "UPSTREAM_READ_TIMEOUT": 1.0,
        }
    )


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
