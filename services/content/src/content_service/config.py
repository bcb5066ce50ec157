"""Content's settings: the shared base plus its database."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared.config import build_config, env_list, env_str
from shared.proxies import LOOPBACK

SERVICE_ROOT = Path(__file__).resolve().parents[2]
REPO_ROOT = SERVICE_ROOT.parents[1]


def load_config(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    default_db = f"sqlite:///{REPO_ROOT / 'var' / 'content.sqlite3'}"
    defaults = {
        "SQLALCHEMY_DATABASE_URI": env_str("CONTENT_DATABASE_URL", default_db),
        "MIGRATIONS_DIR": str(SERVICE_ROOT / "migrations"),
        # Peers whose X-Forwarded-For is believed (the gateway's addresses): IPs or CIDRs.
        "TRUSTED_PROXIES": env_list("TRUSTED_PROXIES", LOOPBACK),
    }
    return build_config("content", defaults, overrides)
