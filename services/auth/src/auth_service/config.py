"""Auth's settings: the shared base plus database, keys, token lifetimes, hashing and throttling."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from authlib.common.security import is_secure_transport

from auth_service.smtp import SmtpServer, parse_smtp_url
from shared.config import (
    DEV_SECRET,
    ConfigError,
    build_config,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_str,
    refuse_default_secrets,
)
from shared.proxies import LOOPBACK

SERVICE_ROOT = Path(__file__).resolve().parents[2]
REPO_ROOT = SERVICE_ROOT.parents[1]


def load_config(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    default_db = f"sqlite:///{REPO_ROOT / 'var' / 'auth.sqlite3'}"
    testing = (overrides or {}).get("APP_ENV", env_str("APP_ENV")) == "testing"
    defaults = {
        "SQLALCHEMY_DATABASE_URI": env_str("AUTH_DATABASE_URL", default_db),
        "MIGRATIONS_DIR": str(SERVICE_ROOT / "migrations"),
        # Signing keys: a folder of PEM files (rotatable) or one PEM in the environment.
        "JWT_KEYS_DIR": env_str("JWT_KEYS_DIR"),
        "JWT_PRIVATE_KEY_PEM": env_str("JWT_PRIVATE_KEY"),
        "JWT_KEYS_RELOAD_SECONDS": env_float("JWT_KEYS_RELOAD_SECONDS", 5.0),
        # A rotated key is published at once and signs after this long: more than the
        # key-folder reload plus the verifiers' JWKS refetch cool-down (JWKS_REFETCH_COOLDOWN).
        "JWT_KEY_ACTIVATION_SECONDS": env_float("JWT_KEY_ACTIVATION_SECONDS", 20.0),
        "JWKS_MAX_AGE": 60,
        "ACCESS_TOKEN_MINUTES": env_int("ACCESS_TOKEN_MINUTES", 15),
        "REFRESH_TOKEN_DAYS": env_int("REFRESH_TOKEN_DAYS", 14),
        "REFRESH_REUSE_GRACE_SECONDS": env_float("REFRESH_REUSE_GRACE_SECONDS", 10.0),
        # The outbox relay's OAuth client secret (client RELAY_CLIENT_ID, registered at start).
        "RELAY_CLIENT_SECRET": env_str("RELAY_CLIENT_SECRET", DEV_SECRET),
        # The client id of tokens from the suite's own login (JSON API and hosted pages).
        "FIRST_PARTY_CLIENT_ID": env_str("FIRST_PARTY_CLIENT_ID", "flask-suite"),
        # The OAuth resource owner password grant, for first-party clients only; OAuth 2.1
        # drops it, so production serves it only when asked to.
        "OAUTH_PASSWORD_GRANT": env_bool(
            "OAUTH_PASSWORD_GRANT",
            (overrides or {}).get("APP_ENV", env_str("APP_ENV")) != "production",
        ),
        # `make up` registers a public OAuth client with this id (never in production).
        "DEV_CLIENT_ID": env_str("DEV_CLIENT_ID"),
        "DEV_CLIENT_REDIRECT_URIS": [
            uri.strip()
            for uri in (env_str("DEV_CLIENT_REDIRECT_URIS") or "").split(",")
            if uri.strip()
        ],
        # Authorization codes live this long (OAuth 2.1 4.1.2: at most 10 minutes).
        "OAUTH_CODE_SECONDS": env_int("OAUTH_CODE_SECONDS", 60),
        # OWASP Password Storage Cheat Sheet: argon2id, 19 MiB, 2 iterations, 1 lane.
        "ARGON2_TIME_COST": env_int("ARGON2_TIME_COST", 2),
        "ARGON2_MEMORY_KIB": env_int("ARGON2_MEMORY_KIB", 19 * 1024),
        "ARGON2_PARALLELISM": env_int("ARGON2_PARALLELISM", 1),
        # Login throttling: failures counted in Redis over a fixed window.
        "LOGIN_MAX_FAILURES_PER_ACCOUNT": env_int("LOGIN_MAX_FAILURES_PER_ACCOUNT", 5),
        "LOGIN_MAX_FAILURES_PER_ADDRESS": env_int("LOGIN_MAX_FAILURES_PER_ADDRESS", 50),
        "LOGIN_FAILURE_WINDOW_SECONDS": env_int("LOGIN_FAILURE_WINDOW_SECONDS", 900),
        # Peers whose X-Forwarded-For is believed (the gateway's addresses): IPs or CIDRs.
        "TRUSTED_PROXIES": env_list("TRUSTED_PROXIES", LOOPBACK),
        # The outbox relay that delivers account events to content.
        "OUTBOX_RELAY_ENABLED": env_bool("OUTBOX_RELAY_ENABLED", not testing),
        "OUTBOX_POLL_SECONDS": env_float("OUTBOX_POLL_SECONDS", 1.0),
        "OUTBOX_BACKOFF_SECONDS": env_float("OUTBOX_BACKOFF_SECONDS", 1.0),
        "OUTBOX_MAX_BACKOFF_SECONDS": env_float("OUTBOX_MAX_BACKOFF_SECONDS", 300.0),
        # Mail: the SMTP server (see smtp.py), the sender, and where the links in mail point.
        "SMTP_URL": env_str("SMTP_URL"),
        "SMTP_TIMEOUT": env_float("SMTP_TIMEOUT", 10.0),
        "MAIL_FROM": env_str("MAIL_FROM", "Flask Suite <no-reply@localhost>"),
        "SITE_NAME": env_str("SITE_NAME", "Flask Suite"),
        # The gateway's public address; production must say it (mail must not link to here).
        "PUBLIC_BASE_URL": env_str("PUBLIC_BASE_URL"),
        # The hosted pages' own session (the forms' CSRF tokens and flash messages) stays
        # under /auth/, apart from the gateway's console session on the same host.
        "SESSION_COOKIE_NAME": "auth_session",
        "SESSION_COOKIE_PATH": "/auth/",
        "WEB_HOME": "/console/",
        # Accounts: links in mail, and whether an unverified address may log in (it may
        # never write content: content reads the token's email_verified claim).
        "EMAIL_TOKEN_MINUTES": env_float("EMAIL_TOKEN_MINUTES", 24 * 60),
        "PASSWORD_RESET_TOKEN_MINUTES": env_float("PASSWORD_RESET_TOKEN_MINUTES", 30),
        "ALLOW_UNVERIFIED_LOGIN": env_bool("ALLOW_UNVERIFIED_LOGIN", True),
        "MAIL_THROTTLE_SECONDS": env_int("MAIL_THROTTLE_SECONDS", 60),
        # Two-factor login: how long the step between password and code may take.
        "MFA_TOKEN_SECONDS": env_int("MFA_TOKEN_SECONDS", 300),
        # The key of the TOTP secrets and recovery codes (totp_keys.py), and the keys it
        # replaced; its own setting, so a new SECRET_KEY leaves two-factor enrolments intact.
        "TOTP_ENCRYPTION_KEY": env_str("TOTP_ENCRYPTION_KEY"),
        "TOTP_ENCRYPTION_OLD_KEYS": env_list("TOTP_ENCRYPTION_OLD_KEYS"),
        "BOOTSTRAP_ADMIN_USERNAME": env_str("BOOTSTRAP_ADMIN_USERNAME"),
        "BOOTSTRAP_ADMIN_EMAIL": env_str("BOOTSTRAP_ADMIN_EMAIL"),
        "BOOTSTRAP_ADMIN_PASSWORD": env_str("BOOTSTRAP_ADMIN_PASSWORD"),
    }
    config = build_config("auth", defaults, overrides, ("SECRET_KEY", "RELAY_CLIENT_SECRET"))
    config.setdefault("TOKEN_COOKIE_SECURE", config["SESSION_COOKIE_SECURE"])
    config["SMTP_SERVER"] = _smtp_server(config)
    if not config["PUBLIC_BASE_URL"]:
        if config["APP_ENV"] == "production":
            raise ConfigError("PUBLIC_BASE_URL must be set in production (the gateway's address)")
        config["PUBLIC_BASE_URL"] = "http://127.0.0.1:8000"
    if config["APP_ENV"] == "production" and not is_secure_transport(config["JWT_ISSUER"]):
        # authlib refuses OAuth over plain HTTP per request; refuse the setting at start instead.
        raise ConfigError("ISSUER must be an https URL in production (http only on loopback)")
    if config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # Several gunicorn workers share one SQLite file: wait for a lock instead of failing.
        config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"connect_args": {"timeout": 15}})
    _check_totp_key(config)
    return config


def _check_totp_key(config: dict[str, Any]) -> None:
    if config["APP_ENV"] != "production":
        # What the key was derived from before it was a setting: old enrolments stay readable.
        config["TOTP_ENCRYPTION_KEY"] = config["TOTP_ENCRYPTION_KEY"] or config["SECRET_KEY"]
        return
    refuse_default_secrets(config, ("TOTP_ENCRYPTION_KEY",))
    if config["TOTP_ENCRYPTION_KEY"] == config["SECRET_KEY"]:
        raise ConfigError("TOTP_ENCRYPTION_KEY must differ from SECRET_KEY in production")


def _smtp_server(config: Mapping[str, Any]) -> SmtpServer | None:
    production = config["APP_ENV"] == "production"
    if not config["SMTP_URL"]:
        if production:
            # Without mail nobody could verify an address or reset a password.
            raise ConfigError("SMTP_URL must be set in production (smtp:// or smtps://)")
        return None
    return parse_smtp_url(config["SMTP_URL"], production)
