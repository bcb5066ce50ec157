"""The auth service: accounts, password hashing, login sessions, JWTs and the JWKS."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask

from auth_service import (
    accounts,
    admin,
    cli,
    oauth_clients,
    oauth_views,
    openapi,
    recovery,
    second_factor,
    sessions,
    verification,
    web,
)
from auth_service.bootstrap import init_bootstrap
from auth_service.config import load_config
from auth_service.extensions import db
from auth_service.keys import key_store
from auth_service.oauth_server import init_oauth_server
from auth_service.outbox import init_outbox
from auth_service.passwords import init_passwords
from auth_service.relay_client import ensure_relay_client
from auth_service.smtp import MailSender
from auth_service.tokens import init_token_issuing
from auth_service.web import authorize
from shared.auth import init_token_verifier
from shared.db_teardown import init_session_teardown
from shared.health import database_check, health_blueprint, init_database_errors, redis_check
from shared.migrations import init_migrations
from shared.proxies import init_trusted_proxies
from shared.redis_store import get_redis
from shared.service import ServiceFlask, init_service
from shared.tokens import JwksCache, RevocationList


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = ServiceFlask(__name__, instance_relative_config=True)
    app.config.update(load_config(config))
    init_service(app)
    # The gateway's X-Forwarded-For names the client: login throttling counts by it.
    init_trusted_proxies(app)
    db.init_app(app)
    init_session_teardown(app, db)
    init_migrations(app, db)
    init_passwords(app)
    _init_tokens(app)
    init_oauth_server(app)
    relays = init_outbox(
        app,
        MailSender(app.config["SMTP_SERVER"], app.config["MAIL_FROM"], app.config["SMTP_TIMEOUT"]),
    )

    on_first_request: list[Callable[[], None]] = []
    init_bootstrap(app, on_first_request)
    on_first_request.append(lambda: oauth_clients.ensure_development_client(app))
    on_first_request.append(lambda: ensure_relay_client(app))
    if app.config["OUTBOX_RELAY_ENABLED"]:
        on_first_request.extend(relay.start for relay in relays)
    run_once_per_worker(app, on_first_request)

    app.register_blueprint(accounts.bp, url_prefix="/auth")
    app.register_blueprint(sessions.bp, url_prefix="/auth")
    app.register_blueprint(verification.bp, url_prefix="/auth")
    app.register_blueprint(recovery.bp, url_prefix="/auth")
    app.register_blueprint(second_factor.bp, url_prefix="/auth")
    app.register_blueprint(admin.bp, url_prefix="/auth")
    app.register_blueprint(oauth_clients.bp, url_prefix="/auth")
    app.register_blueprint(oauth_views.bp, url_prefix="/auth")
    app.register_blueprint(openapi.bp)
    init_database_errors(app)
    app.register_blueprint(
        health_blueprint({"database": database_check(db), "redis": redis_check(get_redis)})
    )
    cli.init_app(app)
    oauth_clients.init_cli(app)
    web.init_app(app)
    authorize.init_app(app)
    return app


def _init_tokens(app: Flask) -> None:
    store = key_store(app.config, app.instance_path)
    app.extensions["key_store"] = store
    init_token_issuing(app)
    # Auth verifies with the same code as every other service, from its own key set;
    # re-read as often as the key folder is, so a rotated key verifies at once.
    jwks = JwksCache(lambda: store.ring().jwks(), cooldown=0, max_age=store.check_every)
    init_token_verifier(app, jwks, RevocationList(get_redis))


def run_once_per_worker(app: Flask, actions: list[Callable[[], None]]) -> None:
    """Run start-up actions at a worker's first request, when the schema is surely there.

    At import or in create_app they would also run in `flask db upgrade`, before the
    tables exist.
    """
    done = threading.Event()
    lock = threading.Lock()

    @app.before_request
    def first_request() -> None:
        if done.is_set():
            return
        with lock:
            if done.is_set():
                return
            for action in actions:
                action()
            done.set()
