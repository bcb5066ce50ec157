"""Hosted pages for people with a browser: register, log in, log out, change password.

Logging in here sets the tokens as HttpOnly cookies (see cookies.py), so the console and
the API accept the browser without any script handling a token.
"""

from __future__ import annotations

from flask import Flask

from auth_service.web.views import bp
from shared.webui import ui_blueprint


def init_app(app: Flask) -> None:
    # The session cookie's name, path and Secure flag are settings (auth_service.config).
    app.register_blueprint(bp, url_prefix="/auth/web")
    app.register_blueprint(ui_blueprint(), url_prefix="/auth/web/ui")
