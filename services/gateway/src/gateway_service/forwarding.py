"""Which request headers reach an upstream, and who the client is.

Forwarding and identity headers are believed only from a configured proxy
(TRUSTED_PROXIES); from anyone else they are dropped and the gateway's own are set.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from flask import current_app, g, request

from shared.proxies import Networks, client_address_of, is_trusted
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
# Written by the server the gateway runs on; an upstream's would be a second copy.
SERVER_OWNED = frozenset({"date", "server"})
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


# Characters left as they are in a path and a query sent on; everything else, and anything
# outside ASCII, is percent-encoded from the bytes the client sent.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?%[]"


def request_target(environ: dict[str, Any]) -> str:
    """The path and query an upstream is sent, from the request's own bytes.

    The server hands the path over decoded (%2F is / again, %25 is %): it is encoded again
    so the upstream decodes it to what the client meant. The query is still as the client
    encoded it and passes unchanged but for bytes that may not appear in a request line.
    """
    path = quote(_wsgi_bytes(environ.get("PATH_INFO", "")), safe=_PATH_SAFE)
    query = _wsgi_bytes(environ.get("QUERY_STRING", ""))
    return f"{path}?{quote(query, safe=_QUERY_SAFE)}" if query else path


def _wsgi_bytes(value: str) -> bytes:
    # WSGI carries the raw bytes as latin-1 text.
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape")


def named_in_connection(connection_header: str | None) -> set[str]:
    return {v.strip().lower() for v in (connection_header or "").split(",") if v.strip()}


def _is_untrusted_only(name: str) -> bool:
    return name in FORWARDING or name.startswith(IDENTITY_PREFIXES)


def client_address() -> str:
    """The current request's client address (see client_address_of), worked out once."""
    cached = g.get("client_address")
    if cached is None:
        cached = client_address_of(
            request.remote_addr or "",
            request.headers.get("X-Forwarded-For"),
            current_app.config["TRUSTED_NETWORKS"],
        )
        g.client_address = cached
    return cached


def connection_scheme(environ: dict[str, Any]) -> str:
    # gunicorn rewrites wsgi.url_scheme from X-Forwarded-Proto sent by FORWARDED_ALLOW_IPS
    # peers, so the socket says how this client really connected.
    sock = environ.get("gunicorn.socket")
    if sock is not None:
        return "https" if isinstance(sock, ssl.SSLSocket) else "http"
    return str(environ.get("wsgi.url_scheme", "http"))


def upstream_headers() -> dict[str, str]:
    """The headers the current Flask request sends on (see forwarded_headers)."""
    return forwarded_headers(
        request.headers.items(),
        peer=request.remote_addr or "",
        host=request.host,
        scheme=connection_scheme(request.environ),
        request_id=g.request_id,
        networks=current_app.config["TRUSTED_NETWORKS"],
    )


def forwarded_headers(
    incoming: Iterable[tuple[str, str]],
    *,
    peer: str,
    host: str,
    scheme: str,
    request_id: str,
    networks: Networks,
) -> dict[str, str]:
    """A client's headers as an upstream gets them: hop-by-hop and (from anyone but a
    trusted proxy) forwarding and identity headers dropped, the gateway's own added."""
    incoming = list(incoming)
    trusted = is_trusted(peer, networks)
    connection = next((v for k, v in incoming if k.lower() == "connection"), None)
    drop = named_in_connection(connection)
    headers: dict[str, str] = {}
    for name, value in incoming:
        lower = name.lower()
        if lower in HOP_BY_HOP or lower in GATEWAY_OWNED or lower in drop:
            continue
        if not trusted and _is_untrusted_only(lower):
            continue
        headers[name] = value
    if trusted:
        sent = {k.lower(): v for k, v in incoming if k.lower() in FORWARDING}
        chain = sent.get("x-forwarded-for")
        headers["X-Forwarded-For"] = f"{chain}, {peer}" if chain else peer
        headers["X-Forwarded-Proto"] = sent.get("x-forwarded-proto") or scheme
        headers["X-Forwarded-Host"] = sent.get("x-forwarded-host") or host
    else:
        headers["X-Forwarded-For"] = peer
        headers["X-Forwarded-Proto"] = scheme
        headers["X-Forwarded-Host"] = host
    headers[REQUEST_ID_HEADER] = request_id
    return headers


def response_headers(
    items: Iterable[tuple[str, str]], connection: str | None
) -> list[tuple[str, str]]:
    """An upstream's answer headers minus hop-by-hop ones, its own CORS opinions and the
    headers the gateway's server writes itself (one Date; no backend Server banner)."""
    drop = named_in_connection(connection)
    kept = []
    for name, value in items:
        lower = name.lower()
        if (
            lower in HOP_BY_HOP
            or lower in drop
            or lower in SERVER_OWNED
            or lower.startswith("access-control-")
        ):
            continue
        kept.append((name, value))
    return kept
