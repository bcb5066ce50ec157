"""Password hashing with argon2id (OWASP parameters by default) and the password rules."""

from __future__ import annotations

import gzip
from functools import lru_cache
from importlib.resources import files

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import Flask, current_app

MIN_LENGTH = 8
MAX_LENGTH = 128
_EXTENSION = "auth_password_hasher"


class Hasher:
    """An argon2id hasher and a dummy hash, so an unknown user costs one verification too."""

    def __init__(self, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self.argon2 = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        self.dummy_hash = self.argon2.hash("not-a-real-password-used-for-timing")


def init_passwords(app: Flask) -> None:
    app.extensions[_EXTENSION] = Hasher(
        app.config["ARGON2_TIME_COST"],
        app.config["ARGON2_MEMORY_KIB"],
        app.config["ARGON2_PARALLELISM"],
    )


def _hasher() -> Hasher:
    return current_app.extensions[_EXTENSION]


def hash_password(password: str) -> str:
    return _hasher().argon2.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    hasher = _hasher()
    try:
        return hasher.argon2.verify(password_hash or hasher.dummy_hash, password) and bool(
            password_hash
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher().argon2.check_needs_rehash(password_hash)


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The 20,000 most common passwords, lower-cased (see data/NOTICE for the source)."""
    data = files("auth_service").joinpath("data/common-passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(data).decode().split())


def password_problem(password: object) -> str | None:
    """Why a new password is refused, or None: length only, no composition rules."""
    if not isinstance(password, str):
        return "must be a string"
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        return f"must be {MIN_LENGTH} to {MAX_LENGTH} characters"
    if password.strip().lower() in common_passwords():
        return "is too common; choose a less guessable password"
    return None
