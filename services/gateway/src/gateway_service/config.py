"""Gateway settings: the shared base plus routes, CORS, limits and resilience knobs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from shared.config import ConfigError, build_config, env_float, env_int, env_list, env_str
from shared.proxies import trusted_networks

DEV_CORS_ORIGINS = "http://localhost:3000,http://localhost:5173"
# An origin is scheme://host[:port], nothing more: no paths, no wildcards, no patterns.
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


def load_config(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    defaults = {
        # The console's own session holds only flash messages, under /console/ (auth keeps
        # its own under /auth/ on the same host).
        "SESSION_COOKIE_NAME": "console_session",
        "SESSION_COOKIE_PATH": "/console/",
        # Path prefix -> upstream name; each upstream's URL is <NAME>_SERVICE_URL.
        "GATEWAY_ROUTES": env_str("GATEWAY_ROUTES", "/auth=auth,/api=content"),
        "CORS_ORIGINS": env_list("CORS_ORIGINS", DEV_CORS_ORIGINS),
        "CORS_MAX_AGE": env_int("CORS_MAX_AGE", 600),
        # Peers whose X-Forwarded-* (and identity) headers are believed: IPs or CIDRs.
        "TRUSTED_PROXIES": env_list("TRUSTED_PROXIES"),
        # Per client (a user with a valid token, else an address); see README.
        "RATE_LIMIT": env_str("RATE_LIMIT", "600/minute"),
        "RATE_LIMIT_ANONYMOUS": env_str("RATE_LIMIT_ANONYMOUS", "300/minute"),
        "RATE_LIMIT_ENABLED": env_str("RATE_LIMIT_ENABLED", "true") != "false",
        "CIRCUIT_FAILURE_THRESHOLD": env_int("CIRCUIT_FAILURE_THRESHOLD", 5),
        "CIRCUIT_RESET_SECONDS": env_float("CIRCUIT_RESET_SECONDS", 30.0),
        # Calls in flight to one upstream per worker; beyond it a quick 503, so a hung
        # upstream's pile of waiting clients is bounded.
        "UPSTREAM_MAX_IN_FLIGHT": env_int("UPSTREAM_MAX_IN_FLIGHT", 512),
        "UPSTREAM_POOL_SIZE": env_int("UPSTREAM_POOL_SIZE", 32),
        # A request body must arrive whole within this many seconds (else 408), before
        # any upstream call; MAX_BODY_BYTES (the shared base) bounds its size (else 413).
        "REQUEST_BODY_TIMEOUT": env_float("REQUEST_BODY_TIMEOUT", 10.0),
        # The request head: the target alone (else 414), and the whole head (else 431).
        "MAX_TARGET_BYTES": env_int("MAX_TARGET_BYTES", 8 * 1024),
        "MAX_HEAD_BYTES": env_int("MAX_HEAD_BYTES", 32 * 1024),
        # Peers (IPs or CIDRs, the socket's own address) that may read /metrics.
        "METRICS_ALLOWED": env_list("METRICS_ALLOWED", "127.0.0.1,::1"),
        "OPENAPI_CACHE_SECONDS": env_float("OPENAPI_CACHE_SECONDS", 60.0),
        # Paths where the edge accepts a refresh token instead of an access token.
        "REFRESH_TOKEN_PATHS": env_list("REFRESH_TOKEN_PATHS", "/auth/refresh"),
        # OAuth endpoints where Authorization carries the client's own credentials
        # (RFC 6749 2.3.1, `Basic`): auth authenticates the client, not the edge.
        "CLIENT_AUTH_PATHS": env_list(
            "CLIENT_AUTH_PATHS", "/auth/token,/auth/revoke,/auth/introspect"
        ),
    }
    config = build_config("gateway", defaults, overrides)
    if isinstance(config["CORS_ORIGINS"], str):
        config["CORS_ORIGINS"] = [o.strip() for o in config["CORS_ORIGINS"].split(",") if o]
    if isinstance(config["TRUSTED_PROXIES"], str):
        config["TRUSTED_PROXIES"] = [p.strip() for p in config["TRUSTED_PROXIES"].split(",") if p]
    check_cors_origins(config["CORS_ORIGINS"])
    config["TRUSTED_NETWORKS"] = trusted_networks(config["TRUSTED_PROXIES"])
    if isinstance(config["METRICS_ALLOWED"], str):
        config["METRICS_ALLOWED"] = [p.strip() for p in config["METRICS_ALLOWED"].split(",") if p]
    config["METRICS_NETWORKS"] = trusted_networks(config["METRICS_ALLOWED"])
    return config


def check_cors_origins(origins: list[str]) -> None:
    """Refuse anything but exact origins: '*', 'null' and patterns would leak credentials."""
    for origin in origins:
        if not _ORIGIN.fullmatch(origin):
            raise ConfigError(
                f"CORS_ORIGINS entries must be exact origins like https://app.example.com, "
                f"got {origin!r}"
            )


def parse_routes(spec: str) -> list[tuple[str, str]]:
    """'/auth=auth,/api=content' -> [('/auth', 'auth'), ('/api', 'content')], longest first."""
    routes = []
    for part in spec.split(","):
        prefix, _, upstream = part.strip().partition("=")
        if prefix and upstream:
            routes.append(("/" + prefix.strip().strip("/"), upstream.strip()))
    return sorted(routes, key=lambda r: len(r[0]), reverse=True)
