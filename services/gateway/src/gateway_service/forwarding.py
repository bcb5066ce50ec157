"""Which request headers reach an upstream, and who the client is.

Forwarding and identity headers are believed only from a configured proxy
(TRUSTED_PROXIES); from anyone else they are dropped and the gateway's own are set.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Iterable

from flask import current_app, g, request

from shared.request_id import HEADER as REQUEST_ID_HEADER

# RFC 9110 section 7.6.1: meaningful for one connection only, never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Set by the gateway itself, whoever the client is.
GATEWAY_OWNED = frozenset({"host", "content-length", "x-request-id"})
# Who the client is and how it connected: only a trusted proxy may say.
FORWARDING = frozenset(
    {
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-forwarded-port",
        "x-forwarded-prefix",
        "x-forwarded-server",
        "x-forwarded-ssl",
        "x-forwarded-protocol",
        "x-real-ip",
        "x-client-ip",
        "true-client-ip",
        "cf-connecting-ip",
        "x-cluster-client-ip",
        "x-original-forwarded-for",
        "x-original-url",
        "x-rewrite-url",
    }
)
# Headers some stacks read as "already authenticated as"; our services never do, but an
# upstream added later might, so a client never gets to set them.
IDENTITY_PREFIXES = (
    "x-user",
    "x-auth-",
    "x-authenticated",
    "x-remote-user",
    "remote-user",
    "x-forwarded-user",
    "x-forwarded-email",
    "x-forwarded-groups",
    "x-forwarded-preferred-username",
    "x-forwarded-access-token",
    "x-consumer-",
    "x-credential-",
    "x-roles",
    "x-account",
    "x-principal",
    "x-service-",
)


def named_in_connection(connection_header: str | None) -> set[str]:
    return {v.strip().lower() for v in (connection_header or "").split(",") if v.strip()}


def _is_untrusted_only(name: str) -> bool:
    return name in FORWARDING or name.startswith(IDENTITY_PREFIXES)


def is_trusted(address: str | None) -> bool:
    networks = current_app.config["TRUSTED_NETWORKS"]
    if not networks or not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address() -> str:
    """The client's address: the peer, or from a trusted proxy the last untrusted hop."""
    cached = g.get("client_address")
    if cached is not None:
        return cached
    peer = request.remote_addr or ""
    address = peer
    if is_trusted(peer):
        hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",")]
        for hop in reversed([h for h in hops if h]):
            address = hop
            if not is_trusted(hop):
                break
    g.client_address = address
    return address


def _connection_scheme() -> str:
    # gunicorn rewrites wsgi.url_scheme from X-Forwarded-Proto sent by FORWARDED_ALLOW_IPS
    # peers, so the socket says how this client really connected.
    sock = request.environ.get("gunicorn.socket")
    if sock is not None:
        return "https" if isinstance(sock, ssl.SSLSocket) else "http"
    return request.scheme


def upstream_headers() -> dict[str, str]:
    incoming = request.headers
    trusted = is_trusted(request.remote_addr)
    drop = named_in_connection(incoming.get("Connection"))
    headers: dict[str, str] = {}
    for name, value in incoming.items():
        lower = name.lower()
        if lower in HOP_BY_HOP or lower in GATEWAY_OWNED or lower in drop:
            continue
        if not trusted and _is_untrusted_only(lower):
            continue
        headers[name] = value
    peer = request.remote_addr or ""
    if trusted:
        chain = incoming.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{chain}, {peer}" if chain else peer
        headers["X-Forwarded-Proto"] = incoming.get("X-Forwarded-Proto") or _connection_scheme()
        headers["X-Forwarded-Host"] = incoming.get("X-Forwarded-Host") or request.host
    else:
        headers["X-Forwarded-For"] = peer
        headers["X-Forwarded-Proto"] = _connection_scheme()
        headers["X-Forwarded-Host"] = request.host
    headers[REQUEST_ID_HEADER] = g.request_id
    return headers


def response_headers(
    items: Iterable[tuple[str, str]], connection: str | None
) -> list[tuple[str, str]]:
    """An upstream's answer headers minus hop-by-hop ones and its own CORS opinions."""
    drop = named_in_connection(connection)
    kept = []
    for name, value in items:
        lower = name.lower()
        if lower in HOP_BY_HOP or lower in drop or lower.startswith("access-control-"):
            continue
        kept.append((name, value))
    return kept
