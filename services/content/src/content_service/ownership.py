"""Who may change a resource: its author or owner, or an admin; identity from the token only.

Policy: anyone else gets 403, not 404. Every resource here is publicly readable, so hiding
its existence would protect nothing and would only make the answer less clear. Only an
account whose e-mail address is verified writes at all: auth says so in the access token's
`email_verified` claim, and a token without the claim counts as unverified.
"""

from __future__ import annotations

from shared.auth import authenticate
from shared.problems import Problem
from shared.tokens import Principal

UNVERIFIED = "Verify your e-mail address before writing; the link is in the mail we sent you."


def writer() -> Principal:
    """The signed-in caller (401 without one), allowed to write only once verified (403)."""
    principal = authenticate()
    if principal.claims.get("email_verified") is not True:
        raise Problem(403, UNVERIFIED)
    return principal


def require_owner_or_admin(principal: Principal, owner_id: int, noun: str) -> None:
    if principal.id != owner_id and not principal.is_admin:
        raise Problem(403, f"Only the {noun}'s owner or an admin may change it.")
