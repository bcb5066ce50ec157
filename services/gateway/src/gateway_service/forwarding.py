"""Which request headers reach an upstream, and who the client is.

Forwarding and identity headers are believed only from a configured proxy
(TRUSTED_PROXIES); from anyone else they are dropped and the gateway's own are set.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.proxies import Networks, is_trusted
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


def named_in_connection(connection_header: str | None) -> set[str]:
    return {v.strip().lower() for v in (connection_header or "").split(",") if v.strip()}


def _is_untrusted_only(name: str) -> bool:
    return name in FORWARDING or name.startswith(IDENTITY_PREFIXES)


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
