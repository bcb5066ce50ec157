"""One page of a list, at a cost that does not grow with the table.

The page's ids come from an index range scan (the index on the sort column and id covers
it); the rows are then fetched by primary key. The total comes from `row_counts` when no
filter applies, and from COUNT(*) over the filter's index otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select

from content_service import counters
from content_service.extensions import db
from shared.paging import PageRequest


def page_ids(
    model: Any, conditions: Sequence[ColumnElement[bool]], paging: PageRequest
) -> tuple[list[int], int]:
    """The ids on the requested page, in order, and the total across all pages."""
    query = select(model.id).where(*conditions)
    if conditions:
        total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    else:
        total = counters.total(model.__tablename__)
    column = getattr(model, paging.sort_field)
    order = (
        (column.desc(), model.id.desc()) if paging.descending else (column.asc(), model.id.asc())
    )
    ids = db.session.scalars(query.order_by(*order).offset(paging.offset).limit(paging.per_page))
    return list(ids), total


def rows_in_order(model: Any, ids: list[int]) -> list[Any]:
    if not ids:
        return []
    rows = {row.id: row for row in db.session.scalars(select(model).where(model.id.in_(ids)))}
    return [rows[i] for i in ids if i in rows]


def contains(text: str) -> str:
    """A LIKE pattern matching text anywhere, with LIKE's wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
