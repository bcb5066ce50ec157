"""The gateway: the one door for clients in front of auth and content.

create_app() is the Flask app of what the gateway answers itself (health, readiness,
/me, the console, the API documents, metrics); gateway_service.worker serves it behind
gateway_service.edge, the one path every request takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    # Imported here, not above: gunicorn's master imports this package with the worker class
    # (gateway_service.worker) but never serves, so Flask, the console and the HTTP clients
    # load in the workers only (about 40 MiB less in the master).
    from gateway_service.app import create_app as build

    return build(config)
