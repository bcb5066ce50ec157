"""The signing key ring: private keys loaded once at start, public keys published as a JWKS."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import time
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
    private_pem: str
    public_jwk: dict[str, str]
    created_at: float

    @classmethod
    def from_pem(cls, pem: bytes, created_at: float) -> SigningKey:
        private = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(private, rsa.RSAPrivateKey):
            raise ConfigError("JWT signing keys must be RSA private keys")
        numbers = private.public_key().public_numbers()
        e, n = _b64url_uint(numbers.e), _b64url_uint(numbers.n)
        # RFC 7638 thumbprint as the key id: stable and derived from the key itself.
        canonical = json.dumps({"e": e, "kty": "RSA", "n": n}, separators=(",", ":"))
        kid = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest())
        kid_str = kid.rstrip(b"=").decode()
        jwk = {"kty": "RSA", "use": "sig", "alg": ALGORITHM, "kid": kid_str, "n": n, "e": e}
        return cls(kid_str, pem.decode(), jwk, created_at)


def generate_pem() -> bytes:
    private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class KeyRing:
    """Keys newest first; the newest signs, all are published until retired."""

    def __init__(self, keys: list[SigningKey]) -> None:
        if not keys:
            raise ConfigError("no JWT signing key is available")
        self.keys = sorted(keys, key=lambda k: k.created_at, reverse=True)

    @property
    def current(self) -> SigningKey:
        return self.keys[0]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk for k in self.keys]}


def load_key_dir(directory: Path) -> list[SigningKey]:
    keys = []
    for path in sorted(directory.glob("*.pem")):
        keys.append(SigningKey.from_pem(path.read_bytes(), path.stat().st_mtime))
    return keys


def write_new_key(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{time.time_ns()}.pem"
    path.write_bytes(generate_pem())
    path.chmod(0o600)
    return path


def load_key_ring(config: dict[str, Any], instance_path: str) -> KeyRing:
    """Production reads keys from JWT_KEYS_DIR or JWT_PRIVATE_KEY; development makes its own."""
    if config.get("JWT_PRIVATE_KEY_PEM"):
        pem = str(config["JWT_PRIVATE_KEY_PEM"]).replace("\\n", "\n").encode()
        return KeyRing([SigningKey.from_pem(pem, 0.0)])
    if config.get("JWT_KEYS_DIR"):
        directory = Path(config["JWT_KEYS_DIR"])
    elif config["APP_ENV"] == "production":
        raise ConfigError("production needs JWT_KEYS_DIR or JWT_PRIVATE_KEY for token signing")
    else:
        directory = Path(instance_path) / "jwt-keys"
    keys = load_key_dir(directory) if directory.is_dir() else []
    if not keys:
        if config["APP_ENV"] == "production":
            raise ConfigError(f"no signing key found in {directory}")
        keys = _generate_first_key(directory)
    return KeyRing(keys)


def _generate_first_key(directory: Path) -> list[SigningKey]:
    # Several gunicorn workers start at once: the lock makes exactly one of them generate.
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            keys = load_key_dir(directory)
            if not keys:
                write_new_key(directory)
                keys = load_key_dir(directory)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return keys
