"""Container health check: exit 0 when this container's gunicorn answers GET /healthz.

Run by the image's HEALTHCHECK with the image's own Python, so no curl is needed. The port
comes from GUNICORN_BIND when set (host:port), else PORT, the same way gunicorn.conf.py binds.
"""

import os
import sys
import urllib.request


def health_url() -> str:
    bind = os.environ.get("GUNICORN_BIND")
    port = bind.rsplit(":", 1)[-1] if bind else os.environ.get("PORT", "8000")
    return f"http://127.0.0.1:{port}/healthz"


def main() -> int:
    try:
        with urllib.request.urlopen(health_url(), timeout=3) as response:  # noqa: S310 - loopback
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
