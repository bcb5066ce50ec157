"""Signing keys: parsed once, re-read when their folder changes, published as a JWKS.

A key folder holds one PEM file per key, named for the nanosecond it was made. The newest
key signs; an older key stays published until every token it signed has expired, that is
until the key that replaced it is older than the longest token lifetime.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.config import ConfigError

KEY_SIZE = 2048
ALGORITHM = "RS256"


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey
    public_jwk: dict[str, str]
    created_at: float
    path: Path | None = None

    @classmethod
    def from_pem(cls, pem: bytes, created_at: float, path: Path | None = None) -> SigningKey:
        private = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(private, rsa.RSAPrivateKey):
            raise ConfigError("JWT signing keys must be RSA private keys")
        numbers = private.public_key().public_numbers()
        e, n = _b64url_uint(numbers.e), _b64url_uint(numbers.n)
        # RFC 7638 thumbprint as the key id: stable and derived from the key itself.
        canonical = json.dumps({"e": e, "kty": "RSA", "n": n}, separators=(",", ":"))
        digest = hashlib.sha256(canonical.encode()).digest()
        kid = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        jwk = {"kty": "RSA", "use": "sig", "alg": ALGORITHM, "kid": kid, "n": n, "e": e}
        return cls(kid, private, jwk, created_at, path)


def generate_pem() -> bytes:
    private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class KeyRing:
    """Keys newest first: all are published, one signs, older ones verify until they retire.

    A new key is published at once but signs only after `activation_delay`: by then every
    verifier that caches the JWKS can have fetched it, so no token ever carries a key id
    that a verifier has not been able to see (pre-publication, as RFC 7517 key sets allow).
    """

    def __init__(
        self,
        keys: list[SigningKey],
        retire_after: float,
        now: float | None = None,
        activation_delay: float = 0.0,
    ) -> None:
        if not keys:
            raise ConfigError("no JWT signing key is available")
        ordered = sorted(keys, key=lambda k: k.created_at, reverse=True)
        now = time.time() if now is None else now
        self.activation_delay = activation_delay
        self.keys = [ordered[0]]
        self.retired: list[SigningKey] = []
        for older, successor in zip(ordered[1:], ordered, strict=False):
            # The older key stopped signing when its successor became active.
            if now - (successor.created_at + activation_delay) > retire_after:
                self.retired.append(older)
            else:
                self.keys.append(older)

    @property
    def current(self) -> SigningKey:
        """The newest key that is active; the oldest one while every key is still pending."""
        active_before = time.time() - self.activation_delay
        for key in self.keys:
            if key.created_at <= active_before:
                return key
        return self.keys[-1]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk for k in self.keys]}


def _created_at(path: Path) -> float:
    try:
        return int(path.stem) / 1e9
    except ValueError:
        return path.stat().st_mtime  # a key file an operator named by hand


class KeyStore:
    """The current ring; a folder is re-read when it changes, checked every few seconds."""

    def __init__(
        self,
        retire_after: float,
        directory: Path | None = None,
        fixed: SigningKey | None = None,
        check_every: float = 5.0,
        activation_delay: float = 0.0,
    ) -> None:
        self.directory = directory
        self.retire_after = retire_after
        self.activation_delay = activation_delay
        self.check_every = check_every
        self._parsed: dict[str, SigningKey] = {}
        self._lock = threading.Lock()
        self._stamp: int | None = None
        self._checked_at = time.monotonic()
        if fixed is not None:
            self._ring = KeyRing([fixed], retire_after)
        else:
            self._ring = self._load()

    def ring(self) -> KeyRing:
        if self.directory is None or time.monotonic() - self._checked_at < self.check_every:
            return self._ring
        with self._lock:
            if time.monotonic() - self._checked_at >= self.check_every:
                self._checked_at = time.monotonic()
                if self._folder_stamp() != self._stamp:
                    self._ring = self._load()
        return self._ring

    def _folder_stamp(self) -> int:
        assert self.directory is not None
        return self.directory.stat().st_mtime_ns

    def _load(self) -> KeyRing:
        assert self.directory is not None
        self._stamp = self._folder_stamp()
        keys = []
        for path in sorted(self.directory.glob("*.pem")):
            # Keys already parsed are reused: parsing an RSA key costs milliseconds.
            key = self._parsed.get(path.name)
            if key is None:
                key = SigningKey.from_pem(path.read_bytes(), _created_at(path), path)
                self._parsed[path.name] = key
            keys.append(key)
        return KeyRing(keys, self.retire_after, activation_delay=self.activation_delay)


def write_new_key(directory: Path) -> Path:
    """Write a fresh key atomically, so a worker re-reading the folder never sees half a file."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{time.time_ns()}.pem"
    partial = directory / f".{path.name}.partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(generate_pem())
    partial.rename(path)
    return path


def rotate(
    directory: Path, retire_after: float, activation_delay: float = 0.0
) -> tuple[SigningKey, list[Path]]:
    """Add a new signing key (it signs after the activation delay); delete retired keys."""
    with _folder_lock(directory):
        write_new_key(directory)
        ring = KeyStore(retire_after, directory, activation_delay=activation_delay).ring()
        removed = []
        for key in ring.retired:
            if key.path is not None:
                key.path.unlink(missing_ok=True)
                removed.append(key.path)
    return ring.keys[0], removed


def key_store(config: dict[str, Any], instance_path: str) -> KeyStore:
    """Production reads keys from JWT_KEYS_DIR or JWT_PRIVATE_KEY; development makes its own."""
    retire_after = config["REFRESH_TOKEN_DAYS"] * 86400 + config["ACCESS_TOKEN_MINUTES"] * 60
    if config.get("JWT_PRIVATE_KEY_PEM"):
        pem = str(config["JWT_PRIVATE_KEY_PEM"]).replace("\\n", "\n").encode()
        return KeyStore(retire_after, fixed=SigningKey.from_pem(pem, 0.0))
    if config.get("JWT_KEYS_DIR"):
        directory = Path(config["JWT_KEYS_DIR"])
    elif config["APP_ENV"] == "production":
        raise ConfigError("production needs JWT_KEYS_DIR or JWT_PRIVATE_KEY for token signing")
    else:
        directory = Path(instance_path) / "jwt-keys"
    if not any(directory.glob("*.pem")):
        if config["APP_ENV"] == "production":
            raise ConfigError(f"no signing key found in {directory}")
        _generate_first_key(directory)
    return KeyStore(
        retire_after,
        directory,
        check_every=config["JWT_KEYS_RELOAD_SECONDS"],
        activation_delay=config["JWT_KEY_ACTIVATION_SECONDS"],
    )


def _generate_first_key(directory: Path) -> None:
    # Several gunicorn workers start at once: the lock makes exactly one of them generate.
    with _folder_lock(directory):
        if not any(directory.glob("*.pem")):
            write_new_key(directory)


@contextmanager
def _folder_lock(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(directory / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
