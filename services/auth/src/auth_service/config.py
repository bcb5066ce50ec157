"""Auth's settings: the shared base plus database, token lifetimes and login throttling."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared.config import build_config, env_int, env_str

SERVICE_ROOT = Path(__file__).resolve().parents[2]
REPO_ROOT = SERVICE_ROOT.parents[1]


def load_config(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    default_db = f"sqlite:///{REPO_ROOT / 'var' / 'auth.sqlite3'}"
    defaults = {
        "SQLALCHEMY_DATABASE_URI": env_str("AUTH_DATABASE_URL", default_db),
        "MIGRATIONS_DIR": str(SERVICE_ROOT / "migrations"),
        "JWT_KEYS_DIR": env_str("JWT_KEYS_DIR"),
        "JWT_PRIVATE_KEY_PEM": env_str("JWT_PRIVATE_KEY"),
        "ACCESS_TOKEN_MINUTES": env_int("ACCESS_TOKEN_MINUTES", 15),
        "REFRESH_TOKEN_DAYS": env_int("REFRESH_TOKEN_DAYS", 14),
        "BOOTSTRAP_ADMIN_USERNAME": env_str("BOOTSTRAP_ADMIN_USERNAME"),
        "BOOTSTRAP_ADMIN_EMAIL": env_str("BOOTSTRAP_ADMIN_EMAIL"),
        "BOOTSTRAP_ADMIN_PASSWORD": env_str("BOOTSTRAP_ADMIN_PASSWORD"),
    }
    return build_config("auth", defaults, overrides)
