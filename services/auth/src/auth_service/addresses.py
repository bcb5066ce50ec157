"""Who holds an e-mail address, when several accounts may show the same one.

Registration must not reveal whether an address has an account, so registering with a
taken address makes a real account like any other. Only one account can hold an address:
the one that verified it (a unique index over verified addresses), or, while none has,
any account that may still claim it by following a link mailed there; the first to do so
wins, and links of every other account showing the address stop working while it holds
it. An account that registered while a verified account held the address is marked
(email_claimable false), never gets a link for it and can never verify it. Logging in
by address and password-reset mail only ever reach the holder.
"""

from __future__ import annotations

from auth_service.extensions import db
from auth_service.models import Account


def normal(address: str) -> str:
    return address.strip().lower()


def verified_holder(address: str) -> Account | None:
    """The account that verified this address, if any."""
    return db.session.execute(
        db.select(Account).where(Account.email == normal(address), Account.email_verified)
    ).scalar_one_or_none()


def reset_holder(address: str) -> Account | None:
    """The account a password-reset link for this address is for.

    The verified holder; while nobody verified it, the oldest account that may still claim
    it (following the link verifies the address, as any link mailed there does).
    """
    holder = verified_holder(address)
    if holder is not None:
        return holder
    return db.session.execute(
        db.select(Account)
        .where(Account.email == normal(address), Account.email_claimable)
        .order_by(Account.id)
        .limit(1)
    ).scalar_one_or_none()


def may_claim(account: Account, address: str) -> bool:
    """Whether a link mailed to `address` for this account may verify it there."""
    if not account.email_claimable or account.email != normal(address):
        return False
    holder = verified_holder(address)
    return holder is None or holder.id == account.id


def claim(account: Account, address: str) -> None:
    """Make the account the verified holder of `address` (the caller commits).

    Only the account's own row changes (so two claims never lock each other's rows); the
    unique index over verified addresses fails the commit of the second of two claims.
    """
    account.email = normal(address)
    account.email_verified = True
    account.email_claimable = True
