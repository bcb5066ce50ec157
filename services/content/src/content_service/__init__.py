"""The content service: user profiles, posts and items."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from content_service import events, items, openapi, posts, users
from content_service.config import load_config
from content_service.database import init_database
from content_service.extensions import db
from content_service.json_provider import LeanJSONProvider
from content_service.no_sessions import NoSessions
from content_service.revocation_news import RevocationNews
from shared.auth import init_token_verifier
from shared.health import database_check, health_blueprint, init_database_errors, redis_check
from shared.http_client import ServiceClient
from shared.migrations import init_migrations
from shared.proxies import init_trusted_proxies
from shared.redis_store import get_redis
from shared.service import ServiceFlask, init_service
from shared.tokens import JwksCache, RevocationList, http_jwks_source


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = ServiceFlask(__name__, instance_relative_config=True)
    app.config.update(load_config(config))
    init_service(app)
    # Log lines name the client the gateway saw, never an address a caller made up.
    init_trusted_proxies(app)
    app.json = LeanJSONProvider(app)
    app.session_interface = NoSessions()
    init_database(app)
    init_migrations(app, db)
    _init_token_verifier(app)

    app.register_blueprint(users.bp, url_prefix="/api/users")
    app.register_blueprint(posts.bp, url_prefix="/api/posts")
    app.register_blueprint(items.bp, url_prefix="/api/items")
    app.register_blueprint(events.bp, url_prefix="/internal")
    app.register_blueprint(openapi.bp)
    init_database_errors(app)
    app.register_blueprint(
        health_blueprint({"database": database_check(db), "redis": redis_check(get_redis)})
    )
    return app


def _init_token_verifier(app: Flask) -> None:
    auth = ServiceClient(
        app.config["AUTH_SERVICE_URL"],
        app.config["UPSTREAM_CONNECT_TIMEOUT"],
        app.config["UPSTREAM_READ_TIMEOUT"],
    )
    # Tests hand in their own key source; in service the keys come from auth's JWKS.
    source = app.config.get("JWKS_SOURCE") or http_jwks_source(auth, "/auth/.well-known/jwks.json")
    jwks = JwksCache(source, cooldown=app.config["JWKS_REFETCH_COOLDOWN"])
    # Always checked: with Redis unreachable, authenticated requests fail closed (503).
    # Marks followed through Redis's notices spare a round trip a request (when it can).
    url = app.config.get("REDIS_URL")
    news = app.extensions["content_revocation_news"] = RevocationNews(url) if url else None
    init_token_verifier(app, jwks, RevocationList(get_redis, news))
