"""Each service's session cookie: its own signing key, Secure in production."""

from __future__ import annotations

from flask import Flask, session

from shared.config import build_config
from shared.service import init_service

SECRET = "one secret shared by every service in this deployment!"


def _app(service: str, **overrides: object) -> Flask:
    app = Flask(service)
    app.config.update(build_config(service, {}, {"SECRET_KEY": SECRET, **overrides}))
    init_service(app)

    @app.get("/set")
    def set_role() -> str:
        session["role"] = "admin"
        return ""

    @app.get("/get")
    def get_role() -> str:
        return str(session.get("role"))

    return app


def test_a_session_cookie_of_one_service_means_nothing_to_another():
    """Regression: with one SECRET_KEY, auth's pages and the console accepted each other's."""
    auth, gateway = _app("auth").test_client(), _app("gateway").test_client()
    auth.get("/set")
    assert auth.get("/get").get_data(as_text=True) == "admin"
    cookie = auth.get_cookie("session")
    assert cookie is not None
    gateway.set_cookie("session", cookie.value)
    assert gateway.get("/get").get_data(as_text=True) == "None"


def test_secure_in_production_unless_set_on_purpose():
    production = {
        "APP_ENV": "production",
        "SECRET_KEY": SECRET,
        "JWT_ISSUER": "https://app.example.com/auth",
    }
    assert build_config("svc", {}, production)["SESSION_COOKIE_SECURE"] is True
    assert build_config("svc", {}, {"APP_ENV": "development"})["SESSION_COOKIE_SECURE"] is False
    off = {**production, "SESSION_COOKIE_SECURE": False}
    assert build_config("svc", {}, off)["SESSION_COOKIE_SECURE"] is False
    client = _app("svc", **production).test_client()
    header = client.get("/set").headers["Set-Cookie"]
    assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header


def test_cookie_secure_from_the_environment(monkeypatch):
    production = {
        "APP_ENV": "production",
        "SECRET_KEY": SECRET,
        "JWT_ISSUER": "https://app.example.com/auth",
    }
    monkeypatch.setenv("COOKIE_SECURE", "false")  # a production build tested over plain HTTP
    assert build_config("svc", {}, production)["SESSION_COOKIE_SECURE"] is False
    monkeypatch.setenv("COOKIE_SECURE", "")  # compose passes an unset variable as empty
    assert build_config("svc", {}, production)["SESSION_COOKIE_SECURE"] is True
    monkeypatch.setenv("COOKIE_SECURE", "true")
    assert build_config("svc", {}, {"APP_ENV": "development"})["SESSION_COOKIE_SECURE"] is True
