"""Check that a container stopped mid-request still answers that request.

Sends half of a POST /auth/login body, asks podman to stop the container (SIGTERM), sends
the other half a moment later, and expects a whole HTTP response back: gunicorn must let the
in-flight request finish before it exits. Used by deploy/test-containers.sh:
    python deploy/graceful_stop_check.py PORT CONTAINER
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

STOP_TIMEOUT_SECONDS = 30
PAUSE_AFTER_SIGTERM_SECONDS = 1.5


def main() -> int:
    port, container = int(sys.argv[1]), sys.argv[2]
    body = json.dumps({"username": "nobody-graceful", "password": "not the password"}).encode()
    head = (
        f"POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=STOP_TIMEOUT_SECONDS) as sock:
        sock.sendall(head + body[: len(body) // 2])
        time.sleep(0.5)  # the worker has the request and waits for the rest of the body
        stop = subprocess.Popen(  # noqa: S603 - our own fixed command line
            ["podman", "stop", "-t", str(STOP_TIMEOUT_SECONDS), container],  # noqa: S607
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(PAUSE_AFTER_SIGTERM_SECONDS)
        response = b""
        try:
            sock.sendall(body[len(body) // 2 :])
            while chunk := sock.recv(65536):
                response += chunk
        except OSError as exc:
            print(f"connection broken: {exc}", file=sys.stderr)
    stop.wait(timeout=STOP_TIMEOUT_SECONDS + 10)
    status_line = response.split(b"\r\n", 1)[0].decode(errors="replace")
    if not status_line.startswith("HTTP/1.1 4"):
        print(f"in-flight request lost on SIGTERM: {status_line!r}", file=sys.stderr)
        return 1
    print(f"request in flight during SIGTERM answered: {status_line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
