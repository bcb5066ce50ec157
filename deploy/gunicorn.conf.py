"""Gunicorn settings shared by every service, in containers and under `make up`.

Everything is read from the environment so one file serves all three services.
"""

import json
import os
import uuid

from gunicorn import util as gunicorn_util

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
# Threads let one worker overlap upstream I/O; the gateway waits on the network a lot.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# On SIGTERM, in-flight requests get this long to finish before workers are killed.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
# Several gunicorn masters share one machine (make up, tests): no fixed-path control socket.
control_socket_disable = True
# The services log every request themselves, as JSON with the request id.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def _problem_error(sock, status_int, reason, mesg):
    """gunicorn's own refusals (a request line too long, a malformed request, a crash while
    streaming) leave as problem+json like every other error, never as its HTML page."""
    request_id = uuid.uuid4().hex
    body = json.dumps(
        {
            "type": "about:blank",
            "title": reason,
            "status": status_int,
            "detail": mesg or reason,
            "instance": None,
            "request_id": request_id,
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/problem+json\r\nContent-Length: {len(body)}\r\n"
        f"X-Request-ID: {request_id}\r\n\r\n"
    )
    gunicorn_util.write_nonblock(sock, head.encode("latin-1") + body)


# Workers look write_error up on the module at each call, and inherit this at fork.
gunicorn_util.write_error = _problem_error
