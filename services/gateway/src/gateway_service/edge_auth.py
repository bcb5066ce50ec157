"""The JWT check at the edge: a bad token never reaches a service (which verifies again anyway).

No Authorization header: the request passes on as anonymous (public reads stay public).
A header that is not a valid token: 401 here, even on a public read, so a client learns
at once that its token is bad instead of being silently served as anonymous.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from shared.http_client import ServiceClient
from shared.tokens import JwksCache, TokenVerifier, http_jwks_source

JWKS_PATH = "/auth/.well-known/jwks.json"


class CachingTokenVerifier(TokenVerifier):
    """The common verifier, remembering tokens whose signature and claims already checked out.

    Signature checks are the costliest step at the edge and a client sends the same token
    again and again. A remembered token is still checked for expiry and, on every request,
    against the revocation list; it is forgotten after `max_age` seconds so a key removed
    from the JWKS stops being honoured soon.
    """

    def __init__(self, *args: Any, max_entries: int = 10_000, max_age: float = 60.0, **kw: Any):
        super().__init__(*args, **kw)
        self.max_entries = max_entries
        self.max_age = max_age
        self._verified: dict[tuple[str, str], tuple[dict[str, Any], float]] = {}

    def remembered(self, token: str, expected_type: str = "access") -> dict[str, Any] | None:
        """The claims of a token already verified and not yet forgotten, else None."""
        entry = self._verified.get((token, expected_type))
        if entry is not None and time.time() < entry[1]:
            return entry[0]
        return None

    def decode(self, token: str, expected_type: str = "access") -> dict[str, Any]:
        now = time.time()
        remembered = self.remembered(token, expected_type)
        if remembered is not None:
            return remembered
        claims = super().decode(token, expected_type)
        if len(self._verified) >= self.max_entries:
            self._verified.clear()  # crude but bounded; refilled by the next requests
        forget_at = min(float(claims["exp"]), now + self.max_age)
        self._verified[(token, expected_type)] = (claims, forget_at)
        return claims


def edge_verifier(config: Mapping[str, Any]) -> CachingTokenVerifier:
    """The verifier of the edge's token check: the common one, remembering, with no
    revocation list of its own (the edge reads the marks itself, see edge.py)."""
    auth = ServiceClient(
        config["AUTH_SERVICE_URL"],
        config["UPSTREAM_CONNECT_TIMEOUT"],
        config["UPSTREAM_READ_TIMEOUT"],
    )
    source = config.get("JWKS_SOURCE") or http_jwks_source(auth, JWKS_PATH)
    return CachingTokenVerifier(
        JwksCache(source, cooldown=config["JWKS_REFETCH_COOLDOWN"]),
        issuer=config["JWT_ISSUER"],
        audience=config["JWT_AUDIENCE"],
    )
