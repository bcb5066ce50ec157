"""Two-factor login over the real stack, with codes computed by pyotp from the enrolled secret."""

from __future__ import annotations

import time
import uuid

import jwt
import pyotp
import requests
from conftest import verify_email

PASSWORD = "two factor passphrase"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def fresh_code(secret: str, after: str | None = None) -> str:
    """The current code; when it equals `after` (used already), wait for the next step."""
    totp = pyotp.TOTP(secret)
    while (code := totp.now()) == after:
        time.sleep(0.5)
    return code


def test_enrol_log_in_with_codes_and_recovery_codes(gateway):
    name = "t" + uuid.uuid4().hex[:10]
    body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    assert requests.post(f"{gateway}/auth/register", json=body, timeout=10).status_code == 201
    verify_email(gateway, body["email"])
    login = {"username": name, "password": PASSWORD}
    pair = requests.post(f"{gateway}/auth/login", json=login, timeout=10).json()
    headers = bearer(pair["access_token"])

    started = requests.post(f"{gateway}/auth/me/totp", headers=headers, timeout=10).json()
    secret = started["secret"]
    assert pyotp.parse_uri(started["otpauth_uri"]).secret == secret
    used = fresh_code(secret)
    confirmed = requests.post(
        f"{gateway}/auth/me/totp/confirm", json={"code": used}, headers=headers, timeout=10
    )
    assert confirmed.status_code == 200, confirmed.text
    recovery = confirmed.json()["recovery_codes"]
    assert len(recovery) == 10

    first = requests.post(f"{gateway}/auth/login", json=login, timeout=10).json()
    assert first["mfa_required"] is True and "access_token" not in first
    replay = requests.post(
        f"{gateway}/auth/login/totp",
        json={"mfa_token": first["mfa_token"], "code": used},
        timeout=10,
    )
    assert replay.status_code == 401  # the enrolment's code, used once already
    code = fresh_code(secret, after=used)
    done = requests.post(
        f"{gateway}/auth/login/totp",
        json={"mfa_token": first["mfa_token"], "code": code},
        timeout=10,
    )
    assert done.status_code == 200, done.text
    claims = jwt.decode(done.json()["access_token"], options={"verify_signature": False})
    assert claims["amr"] == ["pwd", "otp"]
    me = requests.get(f"{gateway}/auth/me", headers=bearer(done.json()["access_token"]), timeout=10)
    assert me.json()["totp_enabled"] is True

    # A recovery code works once.
    for expected in (200, 401):
        step = requests.post(f"{gateway}/auth/login", json=login, timeout=10).json()
        answer = requests.post(
            f"{gateway}/auth/login/totp",
            json={"mfa_token": step["mfa_token"], "code": recovery[0]},
            timeout=10,
        )
        assert answer.status_code == expected
