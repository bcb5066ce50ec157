"""Content's tables: the users projection, posts, items, and the bookkeeping that keeps them safe.

Every resource a client can change carries a `version`: each write bumps it, the ETag is
derived from it, and conditional writes are `UPDATE ... WHERE version = :v`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import DateTime, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from content_service.extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    # SQLite drops the zone; we only ever store UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def iso(moment: datetime) -> str:
    # Every list row formats two of these: no new datetime for SQLite's zoneless UTC.
    if moment.tzinfo is None:
        return moment.isoformat() + "Z"
    return moment.isoformat().replace("+00:00", "Z")


class User(db.Model):  # type: ignore[name-defined]
    """A profile: a projection of an auth account (same id), kept current by auth's events."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # Not unique: a freed username may be taken again before the old account's event lands.
    username: Mapped[str] = mapped_column(String(80), nullable=False, index=True)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    display_name: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    bio: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __table_args__ = (Index("ix_users_created_at_id", "created_at", "id"),)


class Post(db.Model):  # type: ignore[name-defined]
    __tablename__ = "posts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    author_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    # One index per sort order (with id as the tie-break, so a page is an index range scan),
    # and one for "this author's posts, newest first".
    __table_args__ = (
        Index("ix_posts_created_at_id", "created_at", "id"),
        Index("ix_posts_updated_at_id", "updated_at", "id"),
        Index("ix_posts_title_id", "title", "id"),
        Index("ix_posts_author_id_created_at_id", "author_id", "created_at", "id"),
        # A deleted post's id (and URL) is never given to another post (SQLite; PostgreSQL's
        # sequence never goes back anyway).
        {"sqlite_autoincrement": True},
    )


class Item(db.Model):  # type: ignore[name-defined]
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2), nullable=False)
    owner_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __table_args__ = (
        Index("ix_items_created_at_id", "created_at", "id"),
        Index("ix_items_updated_at_id", "updated_at", "id"),
        Index("ix_items_name_id", "name", "id"),
        Index("ix_items_price_id", "price", "id"),
        {"sqlite_autoincrement": True},
    )


class RowCount(db.Model):  # type: ignore[name-defined]
    """Exact row totals kept beside the tables, so an unfiltered list never runs COUNT(*)."""

    __tablename__ = "row_counts"

    table_name: Mapped[str] = mapped_column(String(40), primary_key=True)
    total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class RowCountDelta(db.Model):  # type: ignore[name-defined]
    """A change to a table's total not yet folded into `row_counts`.

    Each writer inserts its own row, so concurrent creates never wait on one another for
    the total (an UPDATE of the one `row_counts` row held its lock until commit, and
    serialised every create on PostgreSQL); now and then a writer folds the rows in.
    """

    __tablename__ = "row_count_deltas"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    table_name: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    delta: Mapped[int] = mapped_column(Integer, nullable=False)


class ProcessedEvent(db.Model):  # type: ignore[name-defined]
    """Ids of auth events already applied: a redelivered event changes nothing."""

    __tablename__ = "processed_events"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(40), nullable=False)
    processed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DeletedAccount(db.Model):  # type: ignore[name-defined]
    """Accounts auth has deleted: a late or replayed create must not bring the profile back."""

    __tablename__ = "deleted_accounts"

    account_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    deleted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IdempotencyRecord(db.Model):  # type: ignore[name-defined]
    """One Idempotency-Key of one caller: in flight until its response is stored with it."""

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    principal_id: Mapped[int] = mapped_column(Integer, nullable=False)
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_body: Mapped[str | None] = mapped_column(Text, nullable=True)
    response_headers: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        Index("uq_idempotency_keys_principal_key", "principal_id", "key", unique=True),
        Index("ix_idempotency_keys_created_at", "created_at"),
    )
