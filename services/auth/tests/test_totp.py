"""Two-factor login with TOTP: codes computed by pyotp from the enrolled secret."""

from __future__ import annotations

import jwt
import pyotp
import pytest
from conftest import PASSWORD, bearer

from auth_service import totp
from auth_service.config import load_config
from auth_service.extensions import db
from auth_service.models import Account, RecoveryCode
from shared.config import DEV_SECRET, ConfigError


@pytest.fixture
def clock(monkeypatch):
    """A controllable clock for the codes: starts now, moves by whole 30-second steps."""
    state = {"now": 1_900_000_000.0}
    monkeypatch.setattr(totp, "now", lambda: state["now"])

    def step(steps: int = 1) -> None:
        state["now"] += 30 * steps

    step.now = lambda: state["now"]  # type: ignore[attr-defined]
    return step


def code_at(secret: str, moment: float) -> str:
    return pyotp.TOTP(secret).at(moment)


def enrol(client, headers, clock) -> tuple[str, list[str]]:
    started = client.post("/auth/me/totp", headers=headers)
    assert started.status_code == 200
    secret = started.get_json()["secret"]
    assert started.get_json()["otpauth_uri"].startswith("otpauth://totp/")
    confirmed = client.post(
        "/auth/me/totp/confirm", json={"code": code_at(secret, clock.now())}, headers=headers
    )
    assert confirmed.status_code == 200, confirmed.get_json()
    codes = confirmed.get_json()["recovery_codes"]
    clock()  # the enrolment's code is used: later logins take the next step's
    return secret, codes


def first_step(client, username="alice", password=PASSWORD) -> dict:
    response = client.post("/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200
    return response.get_json()


def second_step(client, mfa_token: str, code: str):
    return client.post("/auth/login/totp", json={"mfa_token": mfa_token, "code": code})


@pytest.fixture
def enrolled(client, register, login, clock):
    register()
    headers = bearer(login()["access_token"])
    secret, codes = enrol(client, headers, clock)
    return {"secret": secret, "codes": codes, "headers": headers}


def test_login_asks_for_the_code_after_the_password(client, enrolled, clock):
    answer = first_step(client)
    assert answer["mfa_required"] is True and "access_token" not in answer
    # The second-step token is no access token.
    assert client.get("/auth/me", headers=bearer(answer["mfa_token"])).status_code == 401
    pair = second_step(client, answer["mfa_token"], code_at(enrolled["secret"], clock.now()))
    assert pair.status_code == 200
    claims = jwt.decode(pair.get_json()["access_token"], options={"verify_signature": False})
    assert claims["amr"] == ["pwd", "otp"]
    refreshed = client.post("/auth/refresh", headers=bearer(pair.get_json()["refresh_token"]))
    claims = jwt.decode(refreshed.get_json()["access_token"], options={"verify_signature": False})
    assert claims["amr"] == ["pwd", "otp"]  # kept across refreshes


def test_a_password_only_login_says_pwd(client, register, login):
    register()
    claims = jwt.decode(login()["access_token"], options={"verify_signature": False})
    assert claims["amr"] == ["pwd"]


@pytest.mark.parametrize("drift", [-1, 1])
def test_one_step_of_drift_is_accepted(client, enrolled, clock, drift):
    clock(2)
    answer = first_step(client)
    code = code_at(enrolled["secret"], clock.now() + 30 * drift)
    assert second_step(client, answer["mfa_token"], code).status_code == 200


def test_two_steps_of_drift_are_not(client, enrolled, clock):
    clock(3)
    answer = first_step(client)
    code = code_at(enrolled["secret"], clock.now() - 60)
    assert second_step(client, answer["mfa_token"], code).status_code == 401


def test_a_used_code_is_refused(client, enrolled, clock):
    code = code_at(enrolled["secret"], clock.now())
    assert second_step(client, first_step(client)["mfa_token"], code).status_code == 200
    replay = second_step(client, first_step(client)["mfa_token"], code)
    assert replay.status_code == 401
    # Nor an older step's code, still within the drift window.
    older = code_at(enrolled["secret"], clock.now() - 30)
    assert second_step(client, first_step(client)["mfa_token"], older).status_code == 401


def test_a_second_step_token_works_once(client, enrolled, clock):
    token = first_step(client)["mfa_token"]
    assert second_step(client, token, code_at(enrolled["secret"], clock.now())).status_code == 200
    clock()
    again = second_step(client, token, code_at(enrolled["secret"], clock.now()))
    assert again.status_code == 401


def test_recovery_codes_work_once_each(app, client, enrolled):
    assert len(enrolled["codes"]) == 10 and len(set(enrolled["codes"])) == 10
    code = enrolled["codes"][0]
    assert second_step(client, first_step(client)["mfa_token"], code).status_code == 200
    assert second_step(client, first_step(client)["mfa_token"], code).status_code == 401
    with app.app_context():
        hashes = db.session.execute(db.select(RecoveryCode.code_hash)).scalars().all()
    assert len(hashes) == 10 and not set(enrolled["codes"]) & set(hashes)


def test_wrong_codes_are_throttled_like_passwords(client, enrolled, clock):
    token = first_step(client)["mfa_token"]
    limit = client.application.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
    for _ in range(limit):
        assert second_step(client, token, "000000").status_code == 401
    right = code_at(enrolled["secret"], clock.now())
    throttled = second_step(client, token, right)
    assert throttled.status_code == 429
    assert "Retry-After" in throttled.headers


def test_turning_it_off_needs_the_password_and_a_code(client, enrolled, clock):
    headers = enrolled["headers"]
    code = code_at(enrolled["secret"], clock.now())
    wrong_password = client.delete(
        "/auth/me/totp", json={"password": "wrong password", "code": code}, headers=headers
    )
    assert wrong_password.status_code == 401
    no_code = client.delete(
        "/auth/me/totp", json={"password": PASSWORD, "code": "123456"}, headers=headers
    )
    assert no_code.status_code == 422
    assert client.get("/auth/me/totp", headers=headers).get_json() == {"enabled": True}
    done = client.delete(
        "/auth/me/totp", json={"password": PASSWORD, "code": code}, headers=headers
    )
    assert done.status_code == 204
    assert client.get("/auth/me/totp", headers=headers).get_json() == {"enabled": False}
    assert "access_token" in first_step(client)


def test_an_admin_can_reset_it(client, enrolled, admin_headers, clock):
    me = client.get("/auth/me", headers=enrolled["headers"]).get_json()
    assert me["totp_enabled"] is True
    user_tries = client.delete(f"/auth/accounts/{me['id']}/totp", headers=enrolled["headers"])
    assert user_tries.status_code == 403
    reset = client.delete(f"/auth/accounts/{me['id']}/totp", headers=admin_headers)
    assert reset.status_code == 204
    assert "access_token" in first_step(client)


def test_enrolment_needs_a_working_code(client, register, login, clock):
    register()
    headers = bearer(login()["access_token"])
    secret = client.post("/auth/me/totp", headers=headers).get_json()["secret"]
    wrong = client.post("/auth/me/totp/confirm", json={"code": "000000"}, headers=headers)
    assert wrong.status_code == 422
    assert client.get("/auth/me/totp", headers=headers).get_json() == {"enabled": False}
    assert "access_token" in first_step(client)  # not on until confirmed
    right = client.post(
        "/auth/me/totp/confirm", json={"code": code_at(secret, clock.now())}, headers=headers
    )
    assert right.status_code == 200
    assert client.post("/auth/me/totp", headers=headers).status_code == 409


def second_factor_works(app, code: str) -> bool:
    other = app.test_client()
    return second_step(other, first_step(other)["mfa_token"], code).status_code == 200


def test_a_new_secret_key_leaves_enrolments_working(make_app, enrolled, clock):
    """SECRET_KEY rotates alone: the TOTP key is its own setting."""
    # The fixture's app enrolled under the development key (SECRET_KEY's value by default).
    rotated = make_app(SECRET_KEY="n" * 40, TOTP_ENCRYPTION_KEY=DEV_SECRET)
    assert second_factor_works(rotated, code_at(enrolled["secret"], clock.now()))
    assert second_factor_works(rotated, enrolled["codes"][0])


def test_a_new_totp_key_reads_old_enrolments_and_moves_them(make_app, enrolled, clock):
    new_key = "k" * 40
    rotating = make_app(TOTP_ENCRYPTION_KEY=new_key, TOTP_ENCRYPTION_OLD_KEYS=[DEV_SECRET])
    without_old = make_app(TOTP_ENCRYPTION_KEY=new_key, TOTP_ENCRYPTION_OLD_KEYS=[])
    with rotating.app_context():
        stored_before = db.session.execute(db.select(Account.totp_secret)).scalar_one()
    assert second_factor_works(rotating, code_at(enrolled["secret"], clock.now()))
    with rotating.app_context():
        stored_after = db.session.execute(db.select(Account.totp_secret)).scalar_one()
    assert stored_after != stored_before  # re-encrypted on use
    clock()
    # The old key is no longer needed for the secret, only for recovery codes it keyed.
    assert second_factor_works(without_old, code_at(enrolled["secret"], clock.now()))
    assert not second_factor_works(without_old, enrolled["codes"][0])
    assert second_factor_works(rotating, enrolled["codes"][0])


def test_rekey_moves_every_secret_to_the_current_key(make_app, enrolled, clock):
    new_key = "k" * 40
    rotating = make_app(TOTP_ENCRYPTION_KEY=new_key, TOTP_ENCRYPTION_OLD_KEYS=[DEV_SECRET])
    result = rotating.test_cli_runner().invoke(args=["rekey-totp"])
    assert result.exit_code == 0 and "1 TOTP secrets re-encrypted" in result.output
    again = rotating.test_cli_runner().invoke(args=["rekey-totp"])
    assert "0 TOTP secrets re-encrypted" in again.output
    without_old = make_app(TOTP_ENCRYPTION_KEY=new_key, TOTP_ENCRYPTION_OLD_KEYS=[])
    assert second_factor_works(without_old, code_at(enrolled["secret"], clock.now()))


def test_an_unknown_key_turns_the_enrolment_unreadable(make_app, enrolled, clock):
    stranger = make_app(TOTP_ENCRYPTION_KEY="x" * 40)
    assert not second_factor_works(stranger, code_at(enrolled["secret"], clock.now()))
    result = stranger.test_cli_runner().invoke(args=["rekey-totp"])
    assert "1 TOTP secrets are under no configured key" in result.output


PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": "s" * 40,
    "RELAY_CLIENT_SECRET": "t" * 40,
    "SMTP_URL": "smtps://mx.example.com",
    "PUBLIC_BASE_URL": "https://app.example.com",
    "JWT_ISSUER": "https://app.example.com/auth",
}


@pytest.mark.parametrize(
    ("key", "complaint"),
    [
        (None, "TOTP_ENCRYPTION_KEY must be set"),
        ("short", "TOTP_ENCRYPTION_KEY must be set"),
        ("s" * 40, "must differ from SECRET_KEY"),
    ],
)
def test_production_refuses_a_missing_or_shared_totp_key(key, complaint, monkeypatch):
    monkeypatch.delenv("TOTP_ENCRYPTION_KEY", raising=False)
    with pytest.raises(ConfigError, match=complaint):
        load_config({**PRODUCTION, "TOTP_ENCRYPTION_KEY": key})
    assert load_config({**PRODUCTION, "TOTP_ENCRYPTION_KEY": "k" * 40})["APP_ENV"] == "production"
