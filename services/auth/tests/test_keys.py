"""Signing keys: generated in development, required in production, rotated without restarts."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from conftest import bearer

from auth_service import create_app, keys
from auth_service.keys import KeyRing, KeyStore, SigningKey, generate_pem
from shared.config import ConfigError


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def test_production_refuses_to_start_without_keys(monkeypatch, tmp_path):
    secrets = {
        "SECRET_KEY": "s" * 40,
        "RELAY_CLIENT_SECRET": "t" * 40,
        "TOTP_ENCRYPTION_KEY": "o" * 40,
        "SMTP_URL": "smtps://mail.example.com",
        "PUBLIC_BASE_URL": "https://app.example.com",
        "JWT_ISSUER": "https://app.example.com/auth",
    }
    with pytest.raises(ConfigError, match="JWT_KEYS_DIR or JWT_PRIVATE_KEY"):
        create_app({"APP_ENV": "production", **secrets})
    with pytest.raises(ConfigError, match="no signing key"):
        create_app({"APP_ENV": "production", "JWT_KEYS_DIR": str(tmp_path), **secrets})


def test_development_generates_its_first_key_in_the_instance_folder(tmp_path):
    config = {
        "APP_ENV": "development",
        "REFRESH_TOKEN_DAYS": 14,
        "ACCESS_TOKEN_MINUTES": 15,
        "JWT_KEYS_RELOAD_SECONDS": 5,
        "JWT_KEY_ACTIVATION_SECONDS": 20,
    }
    store = keys.key_store(config, str(tmp_path))
    assert store.directory == tmp_path / "jwt-keys"
    assert len(list(store.directory.glob("*.pem"))) == 1
    # The next worker to start finds it and uses the same key.
    assert keys.key_store(config, str(tmp_path)).ring().current.kid == store.ring().current.kid


def test_a_key_from_the_environment_signs(make_app, register, tmp_path):
    pem = generate_pem().decode().replace("\n", "\\n")
    app = make_app(JWT_PRIVATE_KEY_PEM=pem, JWT_KEYS_DIR=None)
    client = app.test_client()
    client.post(
        "/auth/register",
        json={"username": "envkey", "email": "e@example.com", "password": "correct horse battery"},
    )
    pair = client.post(
        "/auth/login", json={"username": "envkey", "password": "correct horse battery"}
    ).get_json()
    jwks = client.get("/auth/.well-known/jwks.json").get_json()
    assert [k["kid"] for k in jwks["keys"]] == [kid_of(pair["access_token"])]


def test_rotation_signs_with_the_new_key_and_keeps_the_old_one_published(make_app, tmp_path):
    folder = tmp_path / "keys"
    keys.write_new_key(folder)
    # Workers check the folder every JWT_KEYS_RELOAD_SECONDS; zero here to see it at once,
    # and no pre-publication delay (tested on its own below).
    app = make_app(
        JWT_KEYS_DIR=str(folder), JWT_KEYS_RELOAD_SECONDS=0, JWT_KEY_ACTIVATION_SECONDS=0
    )
    client = app.test_client()
    client.post(
        "/auth/register",
        json={"username": "rot", "email": "rot@example.com", "password": "correct horse battery"},
    )

    def login() -> dict:
        return client.post(
            "/auth/login", json={"username": "rot", "password": "correct horse battery"}
        ).get_json()

    before = login()
    result = app.test_cli_runner().invoke(args=["rotate-keys"])
    assert result.exit_code == 0, result.output
    after = login()  # the same running app: no restart
    assert kid_of(after["access_token"]) != kid_of(before["access_token"])
    published = [k["kid"] for k in client.get("/auth/.well-known/jwks.json").get_json()["keys"]]
    assert published == [kid_of(after["access_token"]), kid_of(before["access_token"])]
    # Tokens signed by the old key still verify, and so do refreshes from its session.
    assert client.get("/auth/me", headers=bearer(before["access_token"])).status_code == 200
    assert client.post("/auth/refresh", headers=bearer(before["refresh_token"])).status_code == 200


def test_a_rotated_key_is_published_before_it_signs(make_app, tmp_path):
    folder = tmp_path / "keys"
    keys.write_new_key(folder)
    app = make_app(
        JWT_KEYS_DIR=str(folder), JWT_KEYS_RELOAD_SECONDS=0, JWT_KEY_ACTIVATION_SECONDS=3600
    )
    client = app.test_client()
    old_kid = [k["kid"] for k in client.get("/auth/.well-known/jwks.json").get_json()["keys"]]
    assert app.test_cli_runner().invoke(args=["rotate-keys"]).exit_code == 0
    published = [k["kid"] for k in client.get("/auth/.well-known/jwks.json").get_json()["keys"]]
    assert len(published) == 2 and published[1:] == old_kid
    with app.app_context():
        # Verifiers can fetch the new key now; it signs only once the delay has passed.
        assert keys.key_store(app.config, app.instance_path).ring().current.kid == old_kid[0]


def test_the_pending_key_becomes_current_after_the_activation_delay():
    now = time.time()
    older = SigningKey.from_pem(generate_pem(), now - 100)
    pending = SigningKey.from_pem(generate_pem(), now - 10)
    assert KeyRing([older, pending], retire_after=30, activation_delay=20).current is older
    assert KeyRing([older, pending], retire_after=30, activation_delay=5).current is pending
    # A lone key signs at once, whatever the delay: a fresh install must work.
    assert KeyRing([pending], retire_after=30, activation_delay=20).current is pending


def test_a_key_retires_once_its_successor_is_older_than_the_token_lifetime():
    now = time.time()
    pem = generate_pem()
    oldest = SigningKey.from_pem(pem, now - 100)
    middle = SigningKey.from_pem(generate_pem(), now - 50)
    newest = SigningKey.from_pem(pem, now - 10)
    ring = KeyRing([oldest, middle, newest], retire_after=30, now=now)
    assert ring.current is newest
    # middle stopped signing 10 s ago: its tokens may live on; oldest stopped 50 s ago.
    assert ring.keys == [newest, middle]
    assert ring.retired == [oldest]


def test_rotate_deletes_retired_key_files(tmp_path):
    def key_made_seconds_ago(seconds: int) -> Path:
        path = keys.write_new_key(tmp_path)
        return path.rename(tmp_path / f"{time.time_ns() - seconds * 10**9}.pem")

    first = key_made_seconds_ago(100)
    second = key_made_seconds_ago(50)  # replaced the first 50 s ago
    current, removed = keys.rotate(tmp_path, retire_after=30)
    assert removed == [first]
    remaining = sorted(p.name for p in tmp_path.glob("*.pem"))
    assert len(remaining) == 2 and remaining[0] == second.name
    assert current.kid != SigningKey.from_pem(second.read_bytes(), 0).kid


def test_keys_are_parsed_once_not_per_request(make_app, register, monkeypatch, tmp_path):
    app = make_app()
    client = app.test_client()
    client.post(
        "/auth/register",
        json={"username": "once", "email": "once@example.com", "password": "correct horse battery"},
    )
    parsed = []
    original = keys.serialization.load_pem_private_key
    monkeypatch.setattr(
        keys.serialization,
        "load_pem_private_key",
        lambda *a, **k: parsed.append(1) or original(*a, **k),
    )
    for _ in range(3):
        pair = client.post(
            "/auth/login", json={"username": "once", "password": "correct horse battery"}
        ).get_json()
        assert client.get("/auth/me", headers=bearer(pair["access_token"])).status_code == 200
        client.get("/auth/.well-known/jwks.json")
    assert parsed == []


def test_the_folder_is_only_re_read_when_it_changes(tmp_path, monkeypatch):
    keys.write_new_key(tmp_path)
    store = KeyStore(retire_after=3600, directory=tmp_path, check_every=0)
    first = store.ring().current
    loads = []
    monkeypatch.setattr(store, "_load", lambda: loads.append(1) or KeyStore._load(store))
    for _ in range(5):
        assert store.ring().current is first
    assert loads == []
    keys.write_new_key(tmp_path)
    assert store.ring().current is not first
    assert loads == [1]
