"""The auth service: accounts, password hashing, JWT access/refresh tokens and the JWKS."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import Flask

from auth_service import accounts, cli, sessions, web
from auth_service.config import load_config
from auth_service.extensions import db, jwt_manager, migrate
from auth_service.keys import ALGORITHM, load_key_ring
from shared.auth import init_token_verifier
from shared.health import database_check, health_blueprint, redis_check
from shared.redis_store import get_redis
from shared.service import init_service
from shared.tokens import JwksCache, RevocationList


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(load_config(config))
    init_service(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=app.config["MIGRATIONS_DIR"])
    _init_tokens(app)

    app.register_blueprint(accounts.bp, url_prefix="/auth")
    app.register_blueprint(sessions.bp, url_prefix="/auth")
    app.register_blueprint(
        health_blueprint({"database": database_check(db), "redis": redis_check(get_redis)})
    )
    cli.init_app(app)
    web.init_app(app)
    return app


def _init_tokens(app: Flask) -> None:
    ring = load_key_ring(app.config, app.instance_path)
    app.extensions["key_ring"] = ring
    app.config.update(
        JWT_ALGORITHM=ALGORITHM,
        JWT_DECODE_ALGORITHMS=[ALGORITHM],
        JWT_PRIVATE_KEY=ring.current.private_pem,
        JWT_ENCODE_ISSUER=app.config["JWT_ISSUER"],
        JWT_ENCODE_AUDIENCE=app.config["JWT_AUDIENCE"],
        JWT_DECODE_ISSUER=app.config["JWT_ISSUER"],
        JWT_DECODE_AUDIENCE=app.config["JWT_AUDIENCE"],
        JWT_ENCODE_NBF=True,
        JWT_ACCESS_TOKEN_EXPIRES=timedelta(minutes=app.config["ACCESS_TOKEN_MINUTES"]),
        JWT_REFRESH_TOKEN_EXPIRES=timedelta(days=app.config["REFRESH_TOKEN_DAYS"]),
    )
    jwt_manager.init_app(app)

    @jwt_manager.additional_headers_loader
    def key_id_header(identity: object) -> dict[str, str]:
        return {"kid": app.extensions["key_ring"].current.kid}

    @jwt_manager.encode_key_loader
    def signing_key(identity: object) -> str:
        return app.extensions["key_ring"].current.private_pem

    # Auth verifies with the same code as every other service, from its own key set.
    jwks = JwksCache(lambda: app.extensions["key_ring"].jwks(), cooldown=0)
    init_token_verifier(app, jwks, RevocationList(get_redis))
