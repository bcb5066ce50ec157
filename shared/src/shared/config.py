"""Settings read from the environment, the same way in every service."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

ENVIRONMENTS = ("development", "testing", "production")

# Values that ship in the repository for local development. Production refuses them.
DEFAULT_ISSUER = "http://127.0.0.1:8000/auth"  # `make up`'s gateway on its default port
DEV_SECRET = "dev-only-insecure-secret-change-me"  # noqa: S105  # production refuses it  # nosec B105


class ConfigError(RuntimeError):
    """A setting is missing or unsafe; the service must not start."""


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_int(name: str, default: int) -> int:
    raw = env_str(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def env_float(name: str, default: float) -> float:
    raw = env_str(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


def env_bool(name: str, default: bool) -> bool:
    raw = env_str(name)
    if raw is None:
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


def env_list(name: str, default: str = "") -> list[str]:
    raw = env_str(name, default) or ""
    return [part.strip() for part in raw.split(",") if part.strip()]


def base_settings(service: str) -> dict[str, Any]:
    """Settings every service has, read from the environment at call time."""
    app_env = env_str("APP_ENV", "development") or "development"
    if app_env not in ENVIRONMENTS:
        raise ConfigError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}, got {app_env!r}")
    return {
        "SERVICE_NAME": service,
        "APP_ENV": app_env,
        "TESTING": app_env == "testing",
        "SECRET_KEY": env_str("SECRET_KEY", DEV_SECRET),
        "LOG_LEVEL": (env_str("LOG_LEVEL", "INFO") or "INFO").upper(),
        "LOG_FORMAT": env_str("LOG_FORMAT", "json"),
        "REDIS_URL": env_str("REDIS_URL"),
        "AUTH_SERVICE_URL": env_str("AUTH_SERVICE_URL", "http://127.0.0.1:8001"),
        "CONTENT_SERVICE_URL": env_str("CONTENT_SERVICE_URL", "http://127.0.0.1:8002"),
        "UPSTREAM_CONNECT_TIMEOUT": env_float("UPSTREAM_CONNECT_TIMEOUT", 1.0),
        "UPSTREAM_READ_TIMEOUT": env_float("UPSTREAM_READ_TIMEOUT", 10.0),
        "MAX_CONTENT_LENGTH": env_int("MAX_BODY_BYTES", 1024 * 1024),
        # Auth's public URL through the gateway: the `iss` of every token and the OAuth /
        # OpenID Connect issuer identifier (discovery documents are served under it).
        "JWT_ISSUER": env_str("ISSUER") or env_str("JWT_ISSUER") or DEFAULT_ISSUER,
        "JWT_AUDIENCE": env_str("JWT_AUDIENCE", "flask-suite"),
        "JWKS_URL": env_str("JWKS_URL"),
        # An unknown key id refetches the JWKS at most this often (auth's key activation
        # delay must exceed it).
        "JWKS_REFETCH_COOLDOWN": env_float("JWKS_REFETCH_COOLDOWN", 10.0),
        # The OAuth client auth's outbox relay authenticates as (client credentials grant);
        # content accepts account events only from it.
        "RELAY_CLIENT_ID": env_str("RELAY_CLIENT_ID", "auth-relay"),
        "JSON_SORT_KEYS": False,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_HTTPONLY": True,
    }


def build_config(
    service: str,
    service_defaults: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    secret_keys: tuple[str, ...] = ("SECRET_KEY",),
) -> dict[str, Any]:
    """Merge base settings, the service's own settings and a caller's overrides, then check."""
    config = {**base_settings(service), **service_defaults, **(overrides or {})}
    # Cookies only over HTTPS in production; COOKIE_SECURE=false is for a production build
    # tested over plain HTTP on one host, never for a real deployment.
    secure_by_default = config["APP_ENV"] == "production"
    config.setdefault("SESSION_COOKIE_SECURE", env_bool("COOKIE_SECURE", secure_by_default))
    if config["APP_ENV"] == "production":
        refuse_default_secrets(config, secret_keys)
        refuse_default_issuer(config)
    return config


def refuse_default_issuer(config: Mapping[str, Any]) -> None:
    """Production names its own issuer: the default is `make up`'s loopback gateway.

    Every token's `iss` and the OpenID Connect discovery document come from it; a default
    would pass as loopback and hand out tokens no client outside this host can use.
    """
    if config["JWT_ISSUER"] == DEFAULT_ISSUER:
        raise ConfigError(
            "ISSUER must be set in production to auth's public URL through the gateway "
            "(for example https://app.example.com/auth)"
        )


def refuse_default_secrets(config: Mapping[str, Any], secret_keys: tuple[str, ...]) -> None:
    for key in secret_keys:
        value = config.get(key)
        if not value or value == DEV_SECRET or len(str(value)) < 32:
            raise ConfigError(
                f"{key} must be set to a random value of at least 32 characters in production"
            )
