"""Exact row totals for the unfiltered lists: `row_counts` plus the deltas not yet folded in.

COUNT(*) walks the whole table (PostgreSQL's MVCC and SQLite's b-tree alike), so at 100,000
rows it would dominate a page that otherwise costs an index range scan. Each insert or
delete adds a delta row in the writer's own transaction, so the total (the folded total
plus the pending deltas, read in one snapshot) is never off by a committed row. Deltas are
rows of their own rather than an UPDATE of one counter row: that row's lock, held to
commit, made every concurrent create on PostgreSQL wait for the one before it.
About one write in FOLD_EVERY folds a table's deltas into its total, in the writer's
transaction (DELETE ... RETURNING then UPDATE: a concurrent fold of the same table waits
for the rows the first one took, then finds them gone). Creates insert and never wait on
a fold; a request folds at most one table, so two folds never wait on each other in turn.
"""

from __future__ import annotations

import random

from sqlalchemy import ScalarSelect, delete, func, insert, select, update

from content_service.extensions import db
from content_service.models import RowCount, RowCountDelta

COUNTED_TABLES = ("users", "posts", "items")
FOLD_EVERY = 32


def adjust(table: str, delta: int) -> None:
    """Add delta to a table's total, within the caller's transaction."""
    if not delta:
        return
    db.session.execute(insert(RowCountDelta).values(table_name=table, delta=delta))
    info = db.session.info
    # Spreading the folds, not security.
    if "folded" not in info and random.random() < 1 / FOLD_EVERY:  # noqa: S311  # nosec B311
        info["folded"] = fold(table)


def fold(table: str) -> int:
    """Move a table's pending deltas into its total, in the caller's transaction; how many."""
    deltas = db.session.scalars(
        delete(RowCountDelta)
        .where(RowCountDelta.table_name == table)
        .returning(RowCountDelta.delta)
    ).all()
    if deltas:
        db.session.execute(
            update(RowCount)
            .where(RowCount.table_name == table)
            .values(total=RowCount.total + sum(deltas))
        )
    return len(deltas)


def total_of(table: str) -> ScalarSelect[int]:
    """A table's total, as a subquery to select beside other columns."""
    folded = select(RowCount.total).where(RowCount.table_name == table).scalar_subquery()
    pending = (
        select(func.coalesce(func.sum(RowCountDelta.delta), 0))
        .where(RowCountDelta.table_name == table)
        .scalar_subquery()
    )
    return select(folded + pending).scalar_subquery()
