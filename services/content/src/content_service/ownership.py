"""Who may change a resource: its author or owner, or an admin; identity from the token only.

Policy: anyone else gets 403, not 404. Every resource here is publicly readable, so hiding
its existence would protect nothing and would only make the answer less clear.
"""

from __future__ import annotations

from shared.problems import Problem
from shared.tokens import Principal


def require_owner_or_admin(principal: Principal, owner_id: int, noun: str) -> None:
    if principal.id != owner_id and not principal.is_admin:
        raise Problem(403, f"Only the {noun}'s owner or an admin may change it.")
