"""Gateway settings: the shared base plus routes, CORS and limits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.config import build_config, env_list, env_str

DEV_CORS_ORIGINS = "http://localhost:3000,http://localhost:5173"


def load_config(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    defaults = {
        # Path prefix -> upstream name; each upstream's URL is <NAME>_SERVICE_URL.
        "GATEWAY_ROUTES": env_str("GATEWAY_ROUTES", "/auth=auth,/api=content"),
        "CORS_ORIGINS": env_list("CORS_ORIGINS", DEV_CORS_ORIGINS),
        "TRUSTED_PROXIES": env_list("TRUSTED_PROXIES"),
    }
    config = build_config("gateway", defaults, overrides)
    if isinstance(config["CORS_ORIGINS"], str):
        config["CORS_ORIGINS"] = [o.strip() for o in config["CORS_ORIGINS"].split(",") if o]
    return config


def parse_routes(spec: str) -> list[tuple[str, str]]:
    """'/auth=auth,/api=content' -> [('/auth', 'auth'), ('/api', 'content')], longest first."""
    routes = []
    for part in spec.split(","):
        prefix, _, upstream = part.strip().partition("=")
        if prefix and upstream:
            routes.append(("/" + prefix.strip().strip("/"), upstream.strip()))
    return sorted(routes, key=lambda r: len(r[0]), reverse=True)
