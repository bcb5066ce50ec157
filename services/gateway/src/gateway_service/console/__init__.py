"""A small web console for people: browse posts and items, write your own, your profile.

Server-rendered pages on the gateway. The browser is identified by the access cookie that
auth's login page sets; the console calls content and auth with that token as a bearer
token, and every form that changes something carries the token's CSRF value.
"""

from __future__ import annotations

from flask import Flask, redirect
from werkzeug.wrappers import Response

from gateway_service.console import pages, profile, resources
from gateway_service.console.rendering import refused, unavailable
from gateway_service.console.session import Refused, SignInRequired, send_to_sign_in
from gateway_service.console.upstream import Unavailable, init_clients
from shared.auth import init_token_verifier
from shared.redis_store import get_redis
from shared.tokens import JwksCache, RevocationList, http_jwks_source
from shared.webui import ui_blueprint


def init_app(app: Flask) -> None:
    # The session cookie's name, path and Secure flag are settings (gateway_service.config).
    init_clients(app)
    _init_cookie_verifier(app)
    app.register_blueprint(ui_blueprint(), url_prefix="/console/ui")
    app.register_blueprint(pages.bp, url_prefix="/console")
    app.register_blueprint(resources.posts, url_prefix="/console/posts")
    app.register_blueprint(resources.items, url_prefix="/console/items")
    app.register_blueprint(profile.bp, url_prefix="/console")
    app.register_error_handler(SignInRequired, send_to_sign_in)
    app.register_error_handler(Unavailable, unavailable)
    app.register_error_handler(Refused, refused)

    @app.get("/console")
    def console_root() -> Response:
        return redirect("/console/")


def _init_cookie_verifier(app: Flask) -> None:
    """The common verifier (shared.auth) that reads the access cookie and checks its CSRF.

    The edge check only ever looks at the Authorization header, with its own verifier.
    """
    client = app.extensions["console_clients"]["auth"]
    source = app.config.get("JWKS_SOURCE") or http_jwks_source(
        client, "/auth/.well-known/jwks.json"
    )
    init_token_verifier(app, JwksCache(source), RevocationList(get_redis))
