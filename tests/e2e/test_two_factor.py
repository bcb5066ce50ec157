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


def away_from_a_step_edge() -> float:
    """Now, once at least 3 s from either end of a 30-second step: the test's clock and the
    server's (the same machine's) then see the same step through a request or two."""
    while not 3 <= time.time() % 30 <= 24:
        time.sleep(0.5)
    return time.time()


def signed_in(gateway: str) -> tuple[dict[str, str], dict[str, str]]:
    name = "d" + uuid.uuid4().hex[:10]
    body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    assert requests.post(f"{gateway}/auth/register", json=body, timeout=10).status_code == 201
    login = {"username": name, "password": PASSWORD}
    pair = requests.post(f"{gateway}/auth/login", json=login, timeout=10).json()
    return login, bearer(pair["access_token"])


def test_one_step_of_drift_is_accepted_and_two_are_not(gateway):
    login, headers = signed_in(gateway)
    secret = requests.post(f"{gateway}/auth/me/totp", headers=headers, timeout=10).json()["secret"]
    totp = pyotp.TOTP(secret)

    def confirm(code: str) -> int:
        return requests.post(
            f"{gateway}/auth/me/totp/confirm", json={"code": code}, headers=headers, timeout=10
        ).status_code

    # Before any code is used, so only the drift can refuse them: two steps off either way.
    now = away_from_a_step_edge()
    assert confirm(totp.at(now - 60)) == 422
    assert confirm(totp.at(now + 60)) == 422
    # One step behind turns it on (that step is now used) ...
    now = away_from_a_step_edge()
    assert confirm(totp.at(now - 30)) == 200
    # ... and one step ahead logs in.
    first = requests.post(f"{gateway}/auth/login", json=login, timeout=10).json()
    now = away_from_a_step_edge()
    ahead = requests.post(
        f"{gateway}/auth/login/totp",
        json={"mfa_token": first["mfa_token"], "code": totp.at(now + 30)},
        timeout=10,
    )
    assert ahead.status_code == 200, ahead.text


def test_wrong_codes_are_throttled_like_passwords(gateway, stack):
    login, headers = signed_in(gateway)
    secret = requests.post(f"{gateway}/auth/me/totp", headers=headers, timeout=10).json()["secret"]
    confirmed = requests.post(
        f"{gateway}/auth/me/totp/confirm",
        json={"code": fresh_code(secret)},
        headers=headers,
        timeout=10,
    )
    assert confirmed.status_code == 200, confirmed.text
    first = requests.post(f"{gateway}/auth/login", json=login, timeout=10).json()
    limit = int(stack.env.get("LOGIN_MAX_FAILURES_PER_ACCOUNT", "5"))
    wrong = "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"
    for _ in range(limit):
        answer = requests.post(
            f"{gateway}/auth/login/totp",
            json={"mfa_token": first["mfa_token"], "code": wrong},
            timeout=10,
        )
        assert answer.status_code == 401, answer.text
    # A code that would work (the next step's, unused, within the drift) is refused too.
    right = requests.post(
        f"{gateway}/auth/login/totp",
        json={"mfa_token": first["mfa_token"], "code": pyotp.TOTP(secret).at(time.time() + 30)},
        timeout=10,
    )
    assert right.status_code == 429, right.text
    assert int(right.headers["Retry-After"]) > 0
    # Counted per account, not per sign-in: a new password step does not get new tries.
    again = requests.post(f"{gateway}/auth/login", json=login, timeout=10).json()
    retried = requests.post(
        f"{gateway}/auth/login/totp",
        json={"mfa_token": again["mfa_token"], "code": pyotp.TOTP(secret).at(time.time() + 30)},
        timeout=10,
    )
    assert retried.status_code == 429, retried.text
