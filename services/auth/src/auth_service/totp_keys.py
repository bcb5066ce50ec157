"""The keys that protect two-factor enrolments, apart from SECRET_KEY so either rotates alone.

TOTP_ENCRYPTION_KEY encrypts every new TOTP secret and keys the HMAC of new recovery codes;
each of TOTP_ENCRYPTION_OLD_KEYS still decrypts and matches what it protected (as Fernet's
MultiFernet does), and a secret read with an old key is written back under the current one.
Outside production the key defaults to SECRET_KEY, which is what it was derived from before
it was a setting, so enrolments made then stay readable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


def _keys() -> list[str]:
    config = current_app.config
    return [config["TOTP_ENCRYPTION_KEY"], *config["TOTP_ENCRYPTION_OLD_KEYS"]]


def _fernet_key(key: str) -> bytes:
    # Any long random string serves as a setting: the Fernet key is derived from it.
    return base64.urlsafe_b64encode(hashlib.sha256(b"totp-secret:" + key.encode()).digest())


def cipher() -> MultiFernet:
    """Encrypts with the current key, decrypts with any configured key."""
    return MultiFernet([Fernet(_fernet_key(key)) for key in _keys()])


def encrypted_with_current_key(token: str) -> bool:
    try:
        Fernet(_fernet_key(current_app.config["TOTP_ENCRYPTION_KEY"])).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def recovery_digests(code: str) -> list[str]:
    """The HMAC of a recovery code under each key, the current key's first."""
    normal = code.strip().lower().replace("-", "").replace(" ", "")
    return [
        hmac.new(key.encode(), b"recovery:" + normal.encode(), hashlib.sha256).hexdigest()
        for key in _keys()
    ]
