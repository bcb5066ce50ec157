"""The service client never carries one answer's cookie into the next request."""

from __future__ import annotations

import threading

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from shared.http_client import ServiceClient


def test_a_cookie_set_by_an_upstream_is_not_sent_back():
    seen: list[str | None] = []

    def app(environ, start_response):
        seen.append(Request(environ).headers.get("Cookie"))
        response = Response("ok")
        response.set_cookie("access_token_cookie", "someone-elses-token")
        return response(environ, start_response)

    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = ServiceClient(f"http://127.0.0.1:{server.server_port}")
        client.get("/first")
        client.get("/second")
    finally:
        server.shutdown()
        server.server_close()
    assert seen == [None, None]
