"""The scopes auth grants and what each lets a token do.

Content refuses a write whose token lacks the matching scope; `admin` is granted only to an
account holding the admin role, and `events:write` only to auth's own outbox relay.
"""

from __future__ import annotations

from collections.abc import Iterable

PROFILE = "profile"
ITEMS_WRITE = "items:write"
POSTS_WRITE = "posts:write"
ADMIN = "admin"
EVENTS_WRITE = "events:write"
OPENID = "openid"
EMAIL = "email"

# What a client may ask for on behalf of a user (OIDC's `openid` and `email` included).
USER_SCOPES = (OPENID, PROFILE, EMAIL, ITEMS_WRITE, POSTS_WRITE, ADMIN)
SUPPORTED = (*USER_SCOPES, EVENTS_WRITE)

# Tokens from the suite's own /auth/login and hosted pages carry these.
FIRST_PARTY = (PROFILE, ITEMS_WRITE, POSTS_WRITE)


def first_party_scope(roles: Iterable[str]) -> str:
    """The scope of a first-party login: everything a user may do, `admin` for admins."""
    granted = list(FIRST_PARTY)
    if ADMIN in roles:
        granted.append(ADMIN)
    return " ".join(granted)


def allowed_for_account(requested: Iterable[str], roles: Iterable[str]) -> list[str]:
    """The requested user scopes this account may hold (`admin` only for admins)."""
    roles = set(roles)
    return [s for s in requested if s in USER_SCOPES and (s != ADMIN or ADMIN in roles)]
