"""Forwarding headers are believed only from TRUSTED_PROXIES."""

from __future__ import annotations

import pytest

from shared.config import ConfigError
from shared.proxies import client_address_of, trusted_networks

NETWORKS = trusted_networks(["127.0.0.0/8", "10.0.0.0/8"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("203.0.113.5", "1.2.3.4", "203.0.113.5"),  # untrusted peer: its claim is ignored
        ("127.0.0.1", "198.51.100.7", "198.51.100.7"),  # the gateway names the client
        ("127.0.0.1", "6.6.6.6, 198.51.100.7", "198.51.100.7"),  # a forged first hop
        ("127.0.0.1", "198.51.100.7, 10.1.1.1", "198.51.100.7"),  # a trusted balancer between
        ("127.0.0.1", None, "127.0.0.1"),
        ("127.0.0.1", "not-an-ip", "not-an-ip"),
    ],
)
def test_the_client_is_the_last_untrusted_hop(peer, forwarded, client):
    assert client_address_of(peer, forwarded, NETWORKS) == client


def test_a_bad_network_is_a_configuration_error():
    with pytest.raises(ConfigError):
        trusted_networks(["10.0.0.0/33"])
