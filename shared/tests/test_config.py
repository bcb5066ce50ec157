"""Settings: environment first, production refuses default secrets."""

from __future__ import annotations

import pytest

from shared.config import DEFAULT_ISSUER, DEV_SECRET, ConfigError, build_config


def test_development_accepts_defaults(monkeypatch):
    monkeypatch.setenv("APP_ENV", "development")
    config = build_config("svc", {})
    assert config["SECRET_KEY"] == DEV_SECRET
    assert config["UPSTREAM_CONNECT_TIMEOUT"] == 1.0
    assert config["UPSTREAM_READ_TIMEOUT"] == 10.0
    assert config["MAX_CONTENT_LENGTH"] == 1024 * 1024


@pytest.mark.parametrize("secret", [None, DEV_SECRET, "short"])
def test_production_refuses_default_or_weak_secret(monkeypatch, secret):
    monkeypatch.setenv("APP_ENV", "production")
    if secret is None:
        monkeypatch.delenv("SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("SECRET_KEY", secret)
    with pytest.raises(ConfigError):
        build_config("svc", {})


def test_production_with_real_secrets(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    monkeypatch.setenv("ISSUER", "https://app.example.com/auth")
    config = build_config("svc", {})
    assert (config["APP_ENV"], config["JWT_ISSUER"]) == (
        "production",
        "https://app.example.com/auth",
    )


@pytest.mark.parametrize("issuer", [None, DEFAULT_ISSUER])
def test_production_refuses_an_unset_or_default_issuer(monkeypatch, issuer):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    monkeypatch.delenv("JWT_ISSUER", raising=False)
    if issuer is None:
        monkeypatch.delenv("ISSUER", raising=False)
    else:
        monkeypatch.setenv("ISSUER", issuer)
    with pytest.raises(ConfigError, match="ISSUER must be set in production"):
        build_config("svc", {})


def test_unknown_app_env_is_refused(monkeypatch):
    monkeypatch.setenv("APP_ENV", "staging")
    with pytest.raises(ConfigError):
        build_config("svc", {})


def test_bad_number_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("UPSTREAM_READ_TIMEOUT", "ten")
    with pytest.raises(ConfigError, match="UPSTREAM_READ_TIMEOUT"):
        build_config("svc", {})
