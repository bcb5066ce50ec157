"""One page of a list in one statement, at a cost that does not grow with the table.

The page's ids come from an index range scan (the index on the sort column and id covers
it, so OFFSET skips index entries, not rows); the rows are joined to them by primary key,
and the total rides along as a column of the same statement: from `row_counts` when no
filter applies, from COUNT(*) over the filter's index otherwise. Rows come back as plain
result rows, not ORM objects: a list only reads them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Integer, Row, Select, bindparam, func, select
from sqlalchemy.sql import FromClause

from content_service import counters
from content_service.database import read
from content_service.extensions import db
from shared.paging import PageRequest


def page_rows(
    model: Any,
    conditions: Sequence[ColumnElement[bool]],
    paging: PageRequest,
    columns: Sequence[Any] = (),
    joined: tuple[FromClause, ColumnElement[bool]] | None = None,
) -> tuple[list[Row[Any]], int]:
    """The rows on the requested page, in order, and the total across all pages.

    `columns` are selected beside the model's own (from the `joined` table, outer-joined on
    its condition); both must be the caller's module-level constants.
    """
    shape = (model, paging.sort_field, paging.descending, tuple(columns), joined)
    if conditions:
        statement = _page_statement(*shape, tuple(conditions))
    else:
        statement = _unfiltered_page_statement(*shape)
    page = {"page_offset": paging.offset, "page_limit": paging.per_page}
    rows = list(read(statement, page))
    if rows:
        return rows, rows[0].list_total
    total = _total(model, conditions)
    return rows, db.session.scalar(select(total)) or 0  # a page past the end: the total alone


def _page_statement(
    model: Any,
    sort_field: str,
    descending: bool,
    columns: tuple[Any, ...],
    joined: tuple[FromClause, ColumnElement[bool]] | None,
    conditions: tuple[ColumnElement[bool], ...] = (),
) -> Select[Any]:
    """The page's statement; its offset and limit are bound parameters."""
    sort = getattr(model, sort_field)
    order = (sort.desc(), model.id.desc()) if descending else (sort.asc(), model.id.asc())
    page = (
        select(model.id)
        .where(*conditions)
        .order_by(*order)
        .offset(bindparam("page_offset", type_=Integer))
        .limit(bindparam("page_limit", type_=Integer))
        .subquery("page")
    )
    total = _total(model, conditions)
    statement = select(*model.__table__.c, *columns, total.label("list_total")).join_from(
        model, page, model.id == page.c.id
    )
    if joined is not None:
        statement = statement.outerjoin(*joined)
    return statement.order_by(*order)


# An unfiltered list (the common case) is one of a few statements: each is built once, so a
# request neither builds SQL expressions nor works out their cache key (about half of a
# page's CPU before, by cProfile).
_unfiltered_page_statement = functools.lru_cache(maxsize=64)(_page_statement)


def _total(model: Any, conditions: Sequence[ColumnElement[bool]]) -> Any:
    if not conditions:
        return counters.total_of(model.__tablename__)
    matching = select(model.id).where(*conditions).subquery()
    return select(func.count()).select_from(matching).scalar_subquery()


def contains(text: str) -> str:
    """A LIKE pattern matching text anywhere, with LIKE's wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
