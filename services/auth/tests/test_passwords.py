"""Password rules and hashing: OWASP argon2id parameters, rehash on login, common passwords."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type, extract_parameters

from auth_service import create_app
from auth_service.extensions import db
from auth_service.models import Account
from auth_service.passwords import common_passwords, hash_password


def test_production_defaults_are_the_owasp_argon2id_parameters(keys_dir):
    app = create_app({"APP_ENV": "testing", "JWT_KEYS_DIR": str(keys_dir)})
    with app.app_context():
        parameters = extract_parameters(hash_password("a long passphrase"))
    assert parameters.type is Type.ID
    assert (parameters.memory_cost, parameters.time_cost, parameters.parallelism) == (
        19 * 1024,
        2,
        1,
    )


def test_the_common_password_list_is_large_and_shipped():
    passwords = common_passwords()
    assert len(passwords) >= 10_000
    assert "password" in passwords and "iloveyou" in passwords


@pytest.mark.parametrize("password", ["password1", "Password1", "iloveyou", "  qwertyuiop "])
def test_common_passwords_are_refused(client, password):
    response = client.post(
        "/auth/register",
        json={"username": "bob", "email": "bob@example.com", "password": password},
    )
    assert response.status_code == 422
    assert response.get_json()["errors"] == [
        {"field": "password", "message": "is too common; choose a less guessable password"}
    ]


@pytest.mark.parametrize("password", ["é" * 8, "x" * 128, "no rules at all"])
def test_any_8_to_128_characters_are_accepted_without_composition_rules(client, password):
    response = client.post(
        "/auth/register",
        json={"username": "bob", "email": "bob@example.com", "password": password},
    )
    assert response.status_code == 201, response.get_json()


def test_login_rehashes_a_hash_made_with_other_parameters(app, client, register, login):
    register()
    weaker = PasswordHasher(time_cost=1, memory_cost=512, parallelism=1)
    with app.app_context():
        account = db.session.execute(db.select(Account)).scalar_one()
        account.password_hash = weaker.hash("correct horse battery")
        db.session.commit()
    login()
    with app.app_context():
        stored = db.session.execute(db.select(Account)).scalar_one().password_hash
    assert extract_parameters(stored).memory_cost == app.config["ARGON2_MEMORY_KIB"]
    login()  # and the new hash verifies


def test_no_truncation_a_longer_password_is_a_different_password(client, register):
    base = "y" * 100
    register(password=base + "a")
    response = client.post("/auth/login", json={"username": "alice", "password": base + "b"})
    assert response.status_code == 401
