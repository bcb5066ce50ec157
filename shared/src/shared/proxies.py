"""Which peers may say who the client is: X-Forwarded-For is believed only from TRUSTED_PROXIES.

Anyone can send the header; only a proxy we run (the gateway, a load balancer) appends the
address it really saw. So the client is the last hop, read from the right, that is not
itself a trusted proxy; a request from an untrusted peer is that peer, whatever it claims.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from typing import Any

from flask import Flask

from shared.config import ConfigError

Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
# The gateway runs beside the services under `make up`; containers set their own networks.
LOOPBACK = "127.0.0.0/8,::1"


def trusted_networks(entries: Iterable[str]) -> Networks:
    try:
        return tuple(ipaddress.ip_network(e, strict=False) for e in entries)
    except ValueError as exc:
        raise ConfigError(f"TRUSTED_PROXIES must be IP addresses or networks: {exc}") from exc


def is_trusted(address: str | None, networks: Networks) -> bool:
    if not networks or not address:
        return False
    ip = _parsed(address)
    return ip is not None and any(ip in net for net in networks)


@functools.lru_cache(maxsize=4096)
def _parsed(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address parsed once: every request asks this of its peer, mostly the same few
    (the gateway, a load balancer). Bounded, as X-Forwarded-For hops are the client's to pick."""
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        return None


def client_address_of(peer: str, forwarded_for: str | None, networks: Networks) -> str:
    """The peer, or behind a trusted proxy the last hop that is not itself trusted."""
    address = peer
    if is_trusted(peer, networks):
        hops = [h.strip() for h in (forwarded_for or "").split(",")]
        for hop in reversed([h for h in hops if h]):
            address = hop
            if not is_trusted(hop, networks):
                break
    return address


class TrustedProxies:
    """WSGI middleware: REMOTE_ADDR becomes the client's address by the rule above."""

    def __init__(self, app: Any, networks: Networks) -> None:
        self.app = app
        self.networks = networks

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        peer = environ.get("REMOTE_ADDR") or ""
        environ["shared.proxies.peer"] = peer
        environ["REMOTE_ADDR"] = client_address_of(
            peer, environ.get("HTTP_X_FORWARDED_FOR"), self.networks
        )
        return self.app(environ, start_response)


def init_trusted_proxies(app: Flask) -> None:
    networks = trusted_networks(app.config["TRUSTED_PROXIES"])
    app.wsgi_app = TrustedProxies(app.wsgi_app, networks)  # type: ignore[method-assign]
