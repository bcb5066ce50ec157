"""Exact row totals for the unfiltered lists, kept in `row_counts` in the writer's transaction.

COUNT(*) walks the whole table (PostgreSQL's MVCC and SQLite's b-tree alike), so at 100,000
rows it would dominate a page that otherwise costs an index range scan. Each insert or delete
adjusts the total in the same transaction, so the figure is never off by a committed row.
"""

from __future__ import annotations

from sqlalchemy import ScalarSelect, select, update

from content_service.extensions import db
from content_service.models import RowCount

COUNTED_TABLES = ("users", "posts", "items")


def adjust(table: str, delta: int) -> None:
    """Add delta to a table's total; an atomic UPDATE, safe under concurrent writers."""
    if delta:
        db.session.execute(
            update(RowCount)
            .where(RowCount.table_name == table)
            .values(total=RowCount.total + delta)
        )


def total_of(table: str) -> ScalarSelect[int]:
    """A table's total, as a subquery to select beside other columns."""
    return select(RowCount.total).where(RowCount.table_name == table).scalar_subquery()
