"""Gunicorn settings shared by every service, in containers and under `make up`.

Everything is read from the environment so one file serves all three services.
"""

import json
import os
import uuid

from gunicorn import glogging
from gunicorn import util as gunicorn_util

from shared import metrics_files
from shared.heap import release_free_heap

# GUNICORN_BIND (host:port) wins; containers usually set only PORT.
bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
# Threads let one worker overlap upstream I/O; the gateway waits on the network a lot.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Under gevent's worker (content) this is how many requests one process serves at once:
# bounded, so a burst queues in the listen backlog instead of piling up behind the database
# pool. gthread reads it as a cap on open connections, kept at gunicorn's own 1000.
worker_connections = int(
    os.environ.get("GUNICORN_WORKER_CONNECTIONS", "64" if worker_class == "gevent" else "1000")
)
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# On SIGTERM, in-flight requests get this long to finish before workers are killed.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
# Worker heartbeats in memory: a disk-backed /tmp (or none, with a read-only root) can stall them.
# (gunicorn makes its own unique files there with mkstemp.)
SHARED_MEMORY = "/dev/shm"  # noqa: S108
worker_tmp_dir = SHARED_MEMORY if os.path.isdir(SHARED_MEMORY) else None
# Several gunicorn masters share one machine (make up, tests): no fixed-path control socket.
control_socket_disable = True
# The services log every request themselves, as JSON with the request id.
accesslog = None


class ServiceLogger(glogging.Logger):
    """gunicorn's logger without its access log. The logconfig_dict below would otherwise
    switch it on: gunicorn built every access line (all of the environ) only for the
    logging level to drop it, about 5% of each request's CPU."""

    @property
    def access_log_enabled(self) -> bool:
        return False

    def access(self, resp, req, environ, request_time) -> None:
        return None


logger_class = ServiceLogger
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Gunicorn's own lines (boot, worker exits) go to stdout like the services' JSON lines, so a
# container runtime collects one stream. Not propagated: the services' root handler would
# print them a second time.
logconfig_dict = {
    "root": {"level": "WARNING", "handlers": []},
    "loggers": {
        "gunicorn.error": {
            "level": loglevel.upper(),
            "handlers": ["console"],
            "propagate": False,
            "qualname": "gunicorn.error",
        },
    },
}
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def _problem_error(sock, status_int, reason, mesg):
    """gunicorn's own refusals (a request line too long, a malformed request, a crash while
    streaming) leave as problem+json like every other error, never as its HTML page."""
    request_id = uuid.uuid4()
    body = json.dumps(
        {
            "type": "about:blank",
            "title": reason,
            "status": status_int,
            "detail": mesg or reason,
            # The target may be what was refused, so this occurrence is named by its id,
            # as the gateway names its own 414s.
            "instance": request_id.urn,
            "request_id": request_id.hex,
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/problem+json\r\nContent-Length: {len(body)}\r\n"
        f"X-Request-ID: {request_id.hex}\r\n\r\n"
    )
    gunicorn_util.write_nonblock(sock, head.encode("latin-1") + body)


# Workers look write_error up on the module at each call, and inherit this at fork.
gunicorn_util.write_error = _problem_error


def when_ready(server):
    """The master has loaded its settings and bound its socket: what that freed goes back."""
    release_free_heap()


def post_worker_init(worker):
    """The app is loaded: the memory its imports and set-up freed goes back to the system
    before the first request, instead of staying resident for the worker's whole life."""
    release_free_heap()


def child_exit(server, worker):
    """A worker that died (or was replaced) no longer reports its gauges."""
    metrics_files.forget_worker(worker.pid, server.pid)


def on_exit(server):
    metrics_files.remove_directory(server.pid)
