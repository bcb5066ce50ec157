"""ETags from each row's version, and writes that are conditional in the database itself.

A write with If-Match is one statement, `UPDATE/DELETE ... WHERE id = :id AND version = :v`,
so two clients holding the same ETag cannot both win: the second changes nothing and gets 412.
"""

from __future__ import annotations

import zlib
from typing import Any

from sqlalchemy import delete, update

from content_service.database import affected
from content_service.extensions import db
from content_service.models import iso, utcnow
from shared.conditional import if_match_allows, precondition_failed
from shared.problems import Problem

PRIVATE_SUFFIX = "-p"


def etag(row: Any, private: bool = False) -> str:
    """A strong ETag: the row's version, plus its creation stamp so a reused id never matches."""
    stamp = zlib.crc32(iso(row.created_at).encode()) & 0xFFFFFFFF
    return f'"{row.version}-{stamp:08x}{PRIVATE_SUFFIX if private else ""}"'


def expected_version(row: Any) -> int | None:
    """The version an If-Match pins the write to (None: unconditional), or 412 if stale.

    If-Match uses the strong comparison, so a weak tag never matches. Either representation
    of a profile (with or without the email) names the same version.
    """
    allowed = if_match_allows((etag(row), etag(row, private=True)))
    if allowed is None:
        return None
    if allowed:
        return row.version
    raise precondition_failed()


def update_row(model: Any, row: Any, changes: dict[str, Any]) -> None:
    """Apply changes and bump the version, atomically against a concurrent writer."""
    version = expected_version(row)
    statement = update(model).where(model.id == row.id)
    if version is not None:
        statement = statement.where(model.version == version)
    values = {**changes, "version": model.version + 1}
    if "updated_at" in model.__table__.c:
        values["updated_at"] = utcnow()
    statement = statement.values(**values).execution_options(synchronize_session=False)
    result = db.session.execute(statement)
    _check_one_row(affected(result), version)
    db.session.expire(row)


def delete_row(model: Any, row: Any) -> None:
    version = expected_version(row)
    statement = delete(model).where(model.id == row.id)
    if version is not None:
        statement = statement.where(model.version == version)
    result = db.session.execute(statement.execution_options(synchronize_session=False))
    _check_one_row(affected(result), version)


def _check_one_row(rowcount: int, version: int | None) -> None:
    if rowcount == 1:
        return
    # Another writer got there between our read and our write: it changed or deleted the row.
    db.session.rollback()
    if version is None:
        raise Problem(404, "The resource was deleted by another request.")
    raise precondition_failed()
