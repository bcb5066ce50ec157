"""Hosted pages for people with a browser: register, log in, log out, change password.

Logging in here sets the tokens as HttpOnly cookies (see cookies.py), so the console and
the API accept the browser without any script handling a token.
"""

from __future__ import annotations

from flask import Flask

from auth_service.web.views import bp
from shared.webui import ui_blueprint


def init_app(app: Flask) -> None:
    production = app.config["APP_ENV"] == "production"
    # Auth's own session (only for the forms' CSRF tokens and flash messages) stays under
    # /auth/, apart from the gateway's console session on the same host.
    app.config.setdefault("SESSION_COOKIE_NAME", "auth_session")
    app.config.setdefault("SESSION_COOKIE_PATH", "/auth/")
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.config.setdefault("SESSION_COOKIE_SECURE", production)
    app.config.setdefault("TOKEN_COOKIE_SECURE", production)
    app.config.setdefault("WEB_HOME", "/console/")
    app.register_blueprint(bp, url_prefix="/auth/web")
    app.register_blueprint(ui_blueprint(), url_prefix="/auth/web/ui")
