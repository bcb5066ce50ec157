"""Attacks through the gateway that no single service's tests can show.

Token header tricks that would make a verifier fetch keys from a URL the attacker names
(SSRF, RFC 8725 section 3.10), unknown-`kid` floods, request smuggling over raw sockets,
hostile JSON, and password guessing against the real stack.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
import requests
from conftest import assert_problem, register
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import RSAAlgorithm


class KeyServer:
    """A JWKS an attacker serves on this machine; counts every request it receives."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        body = json.dumps(jwks).encode()
        self.hits = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def member(gateway: str) -> dict[str, Any]:
    return register(gateway)


@pytest.fixture(scope="module")
def attacker_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def key_server(attacker_key: rsa.RSAPrivateKey) -> Iterator[KeyServer]:
    jwk = RSAAlgorithm.to_jwk(attacker_key.public_key(), as_dict=True)
    jwk.update({"kid": "attacker", "alg": "RS256", "use": "sig"})
    server = KeyServer({"keys": [jwk]})
    yield server
    server.close()


def _claims_like(token: str) -> dict[str, Any]:
    """The claims of a real token, so only the signature and header differ."""
    return jwt.decode(token, options={"verify_signature": False})


@pytest.mark.parametrize("header", ["jku", "x5u", "jwk"])
def test_key_location_headers_are_ignored_and_never_fetched(
    gateway: str,
    member: dict[str, Any],
    key_server: KeyServer,
    attacker_key: rsa.RSAPrivateKey,
    header: str,
) -> None:
    claims = _claims_like(member["tokens"]["access_token"])
    extra: dict[str, Any] = {"kid": "attacker"}
    if header == "jwk":
        extra["jwk"] = RSAAlgorithm.to_jwk(attacker_key.public_key(), as_dict=True)
    else:
        extra[header] = key_server.url
    forged = jwt.encode(claims, attacker_key, algorithm="RS256", headers=extra)
    for path in ("/auth/me", "/api/items"):
        response = requests.get(
            f"{gateway}{path}", headers={"Authorization": f"Bearer {forged}"}, timeout=20
        )
        assert_problem(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    time.sleep(0.5)
    assert key_server.hits == 0, "a service fetched keys from a URL the token named"


def _jwks_fetches(stack: Any) -> float:
    metrics = requests.get(f"{stack.url('auth')}/metrics", timeout=20).text
    pattern = (
        r'http_requests_total\{method="GET",route="/auth/\.well-known/jwks\.json"[^}]*\} (\S+)'
    )
    return sum(float(n) for n in re.findall(pattern, metrics))


def test_a_flood_of_unknown_kids_does_not_flood_the_key_endpoint(
    stack: Any, attacker_key: rsa.RSAPrivateKey
) -> None:
    user = register(stack.gateway)
    claims = _claims_like(user["tokens"]["access_token"])
    before = _jwks_fetches(stack)
    for _ in range(40):
        forged = jwt.encode(
            claims, attacker_key, algorithm="RS256", headers={"kid": uuid.uuid4().hex}
        )
        response = requests.get(
            f"{stack.gateway}/api/items/1", headers={"Authorization": f"Bearer {forged}"}
        )
        assert response.status_code == 401
    fetched = _jwks_fetches(stack) - before
    # At most one refetch per cool-down per verifying process (gateway and content workers).
    assert fetched <= 8, f"{fetched} JWKS fetches for 40 forged tokens"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_token_with_alg_none_or_hs256_is_refused_at_the_edge_and_behind_it(
    stack: Any,
) -> None:
    user = register(stack.gateway)
    claims = _claims_like(user["tokens"]["access_token"])
    unsigned = (
        _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        + "."
        + _b64(json.dumps(claims).encode())
        + "."
    )
    jwks = requests.get(f"{stack.gateway}/auth/.well-known/jwks.json", timeout=20).json()
    public_pem = RSAAlgorithm.from_jwk(jwks["keys"][0]).public_bytes(
        encoding=Encoding.PEM, format=PublicFormat.SubjectPublicKeyInfo
    )
    # Key confusion: an HMAC keyed with the public key, which every attacker has.
    header = _b64(
        json.dumps({"alg": "HS256", "typ": "JWT", "kid": jwks["keys"][0]["kid"]}).encode()
    )
    payload = _b64(json.dumps(claims).encode())
    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    confused = f"{header}.{payload}.{_b64(signature)}"
    for token in (unsigned, confused):
        for base in (stack.gateway, stack.url("content"), stack.url("auth")):
            path = "/auth/me" if base != stack.url("content") else "/api/items"
            method = requests.get if path == "/auth/me" else requests.post
            response = method(
                f"{base}{path}",
                headers={"Authorization": f"Bearer {token}"},
                json={"name": "x", "price": 1},
                timeout=20,
            )
            assert response.status_code == 401, (base, path, response.text)


# -- request smuggling -----------------------------------------------------------------


def _raw_exchange(url: str, raw: bytes, wait: float = 3.0) -> bytes:
    """Send raw bytes on one connection; everything the server answers until it closes."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=wait) as sock:
        sock.sendall(raw)
        chunks = []
        deadline = time.monotonic() + wait
        try:
            while time.monotonic() < deadline:
                data = sock.recv(65536)
                if not data:
                    break
                chunks.append(data)
        except TimeoutError:
            pass
    return b"".join(chunks)


def _statuses(answer: bytes) -> list[int]:
    return [int(s) for s in re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)]


SMUGGLED_PATH = "/api/items/987654321"  # a 404 if it is ever answered as its own request


@pytest.mark.parametrize(
    "raw",
    [
        # CL.TE: the front end reads Content-Length, the back end the chunked body.
        (
            "POST /api/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 60\r\nTransfer-Encoding: chunked\r\n\r\n"
            "0\r\n\r\n"
            f"GET {SMUGGLED_PATH} HTTP/1.1\r\nHost: x\r\n\r\n"
        ),
        # Two different Content-Length headers.
        (
            "POST /api/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 4\r\nContent-Length: 40\r\n\r\n"
            f"{{}}\r\nGET {SMUGGLED_PATH} HTTP/1.1\r\nHost: x\r\n\r\n"
        ),
        # An obfuscated Transfer-Encoding some parsers ignore and others honour.
        (
            "POST /api/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 50\r\nTransfer-Encoding: xchunked\r\n\r\n"
            "0\r\n\r\n"
            f"GET {SMUGGLED_PATH} HTTP/1.1\r\nHost: x\r\n\r\n"
        ),
        # A bad chunk size.
        (
            "POST /api/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
            "zz\r\n{}\r\n0\r\n\r\n"
            f"GET {SMUGGLED_PATH} HTTP/1.1\r\nHost: x\r\n\r\n"
        ),
    ],
    ids=["cl-te", "double-cl", "obfuscated-te", "bad-chunk-size"],
)
def test_ambiguous_framing_never_smuggles_a_second_request(gateway: str, raw: str) -> None:
    answer = _raw_exchange(gateway, raw.encode())
    statuses = _statuses(answer)
    assert statuses, answer[:300]
    # Refused outright (400), or answered once with the hidden request left unanswered.
    assert statuses[0] in (400, 401, 411, 413, 415, 422, 501), answer[:500]
    assert 404 not in statuses, f"the smuggled request was answered: {answer[:800]!r}"
    assert b"Traceback" not in answer


def test_services_do_not_trust_forwarded_identity_headers(gateway: str) -> None:
    """A client cannot claim an identity or an address with headers the gateway owns."""
    spoofed = requests.post(
        f"{gateway}/api/items",
        json={"name": "spoof", "price": 1},
        headers={
            "X-User-Id": "1",
            "X-Forwarded-User": "admin",
            "X-Roles": "admin",
            "X-Forwarded-For": "10.0.0.1",
        },
        timeout=20,
    )
    assert_problem(spoofed, 401)


# -- hostile JSON -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "[" * 50_000 + "]" * 50_000,
        '{"name":' * 20_000 + "1" + "}" * 20_000,
        '{"name":"x","price":' + "9" * 5_000 + "}",
        '{"name":"x","price":1e400}',
        '{"name":"x","price":NaN}',
        '{"name":"x","price":-1}',
    ],
    ids=["deep-array", "deep-object", "5000-digit-int", "overflow-float", "nan", "negative"],
)
@pytest.mark.parametrize("path", ["/api/items", "/api/posts", "/auth/register", "/auth/login"])
def test_hostile_json_is_a_clear_4xx_never_a_500(
    gateway: str, member: dict[str, Any], path: str, body: str
) -> None:
    response = requests.post(
        f"{gateway}{path}",
        data=body.encode(),
        headers={**member["headers"], "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code in (400, 401, 422), (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("application/problem+json")


# -- brute force -----------------------------------------------------------------------


def test_password_guessing_through_the_gateway_is_throttled(gateway: str) -> None:
    user = register(gateway)
    statuses = []
    for attempt in range(15):
        response = requests.post(
            f"{gateway}/auth/login",
            json={"username": user["username"], "password": f"guess number {attempt}"},
            timeout=30,
        )
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) > 0
            assert_problem(response, 429)
            break
    assert statuses[0] == 401, statuses
    assert statuses[-1] == 429, statuses
    # Throttled even with the right password: the guesser learns nothing from a 429.
    right = requests.post(
        f"{gateway}/auth/login",
        json={"username": user["username"], "password": user["password"]},
        timeout=30,
    )
    assert right.status_code == 429
