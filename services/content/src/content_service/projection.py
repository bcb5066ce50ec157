"""The users table as a projection of auth's accounts: applying auth's events, once each.

Every event is applied in one transaction together with the row that marks its id as
processed, so a redelivered event (auth retries until it gets a 2xx) changes nothing.
"""

from __future__ import annotations

import logging

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from content_service import counters
from content_service.database import affected
from content_service.extensions import db
from content_service.models import (
    DeletedAccount,
    IdempotencyRecord,
    Item,
    Post,
    ProcessedEvent,
    User,
    utcnow,
)
from content_service.schemas import AccountEvent
from shared.problems import Problem, ValidationProblem

log = logging.getLogger(__name__)


def apply_event(event: AccountEvent) -> str:
    """Apply an account event; returns "applied", "duplicate" or "ignored"."""
    if db.session.get(ProcessedEvent, event.id) is not None:
        return "duplicate"
    outcome = "applied"
    if event.type == "account.deleted":
        delete_account(event.data.account_id)
    else:
        outcome = _upsert_account(event)
    db.session.add(ProcessedEvent(id=event.id, type=event.type))
    try:
        db.session.commit()
    except IntegrityError:
        # The same event, delivered twice at once: the other delivery applied it.
        db.session.rollback()
        if db.session.get(ProcessedEvent, event.id) is not None:
            return "duplicate"
        raise
    log.info("account event %s", outcome, extra={"event_id": event.id, "event_type": event.type})
    return outcome


def _upsert_account(event: AccountEvent) -> str:
    data = event.data
    missing = [name for name in ("username", "email") if getattr(data, name) is None]
    if missing:
        raise ValidationProblem(
            [{"field": f"data.{name}", "message": "Field required"} for name in missing]
        )
    if db.session.get(DeletedAccount, data.account_id) is not None:
        return "ignored"  # a late create or update for an account already deleted
    user = db.session.get(User, data.account_id)
    if user is None:
        db.session.add(User(id=data.account_id, username=data.username, email=data.email))
        counters.adjust("users", 1)
    elif (user.username, user.email) != (data.username, data.email):
        user.username, user.email = data.username, data.email
        user.version += 1
        user.updated_at = utcnow()
    return "applied"


def delete_account(account_id: int) -> None:
    """Remove the profile, its posts, its items and its idempotency records; remember the id."""
    posts = affected(db.session.execute(delete(Post).where(Post.author_id == account_id)))
    items = affected(db.session.execute(delete(Item).where(Item.owner_id == account_id)))
    users = affected(db.session.execute(delete(User).where(User.id == account_id)))
    db.session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.principal_id == account_id)
    )
    counters.adjust("posts", -posts)
    counters.adjust("items", -items)
    counters.adjust("users", -users)
    if db.session.get(DeletedAccount, account_id) is None:
        db.session.add(DeletedAccount(account_id=account_id))


def ensure_user(account_id: int, username: str) -> None:
    """Make sure a profile exists for a signed-in author, even before auth's event arrives.

    Registration and a first post can race auth's outbox; the token is proof enough that the
    account exists, and the event fills in the email when it lands.
    """
    if db.session.get(User, account_id) is not None:
        return
    if db.session.scalar(
        select(DeletedAccount.account_id).where(DeletedAccount.account_id == account_id)
    ):
        raise Problem(403, "This account has been deleted.")
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    # RETURNING tells whether this request inserted it (a concurrent one may have).
    inserted = db.session.scalar(
        insert(User.__table__)
        .values(
            id=account_id,
            username=username,
            email=None,
            display_name="",
            bio="",
            created_at=utcnow(),
            updated_at=utcnow(),
            version=1,
        )
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(User.__table__.c.id)
    )
    if inserted is not None:
        counters.adjust("users", 1)
