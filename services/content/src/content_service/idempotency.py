"""Idempotency-Key on POST: the first response is stored with the resource it created.

Records live in the service's database, not Redis: the created row and the stored response
commit in one transaction, so a crash, a restart or Redis being down can neither lose the
record of a create nor let a retry create a second resource. A record is claimed (committed
"in flight") before the work starts, so a concurrent repeat sees it and gets 409.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Response, make_response, request
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from content_service.database import affected
from content_service.extensions import db
from content_service.models import IdempotencyRecord, utcnow
from content_service.ownership import writer
from shared.problems import Problem, ValidationProblem

HEADER = "Idempotency-Key"
RETENTION = timedelta(hours=24)
# A claim older than this belongs to a request that died (gunicorn kills workers after 30 s).
ABANDONED_AFTER = timedelta(seconds=60)
PURGE_PROBABILITY = 0.01
_VALID_KEY = re.compile(r"[\x21-\x7e]{1,255}")
REPLAYED_HEADERS = ("Location", "ETag")


def idempotent(view: Callable[..., Any]) -> Callable[..., Response]:
    """Wrap a create view. The view adds and flushes its rows; this commits them.

    Without the header the view simply runs and commits. With it, a repeat replays.
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        principal = writer()
        key = request.headers.get(HEADER)
        if key is None:
            response = make_response(view(*args, **kwargs))
            db.session.commit()
            return response
        if not _VALID_KEY.fullmatch(key):
            raise ValidationProblem(
                [{"field": HEADER, "message": "1 to 255 visible ASCII characters"}]
            )
        claimed = claim(principal.id, key, fingerprint())
        if isinstance(claimed, Response):
            return claimed
        try:
            response = make_response(view(*args, **kwargs))
            if 200 <= response.status_code < 300:
                _complete(claimed, response)
                db.session.commit()  # the resource and its stored answer, together
                return response
        except BaseException:
            db.session.rollback()
            release(claimed)  # nothing was created: the client may retry with this key
            raise
        db.session.rollback()
        release(claimed)
        return response

    return wrapper


def fingerprint() -> str:
    """Method, path and body; JSON bodies compared by content, not by spacing or key order."""
    raw = request.get_data()
    try:
        body = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        body = raw
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def claim(principal_id: int, key: str, request_hash: str) -> int | Response:
    """Mark the key in flight and return the record id, or answer a repeat (replay, 409, 422)."""
    if random.random() < PURGE_PROBABILITY:  # noqa: S311  # spreading the cleanup, not security  # nosec B311
        purge_expired()
    now = utcnow()
    record = _find(principal_id, key)
    if record is not None and _aware(record.created_at) < now - RETENTION:
        db.session.delete(record)
        db.session.commit()
        record = None
    if record is None:
        try:
            fresh = IdempotencyRecord(principal_id=principal_id, key=key, request_hash=request_hash)
            db.session.add(fresh)
            db.session.commit()
            return fresh.id
        except IntegrityError:
            db.session.rollback()  # a concurrent request claimed it first
            record = _find(principal_id, key)
            if record is None:
                raise Problem(409, "This Idempotency-Key is in use; retry.") from None
    if record.request_hash != request_hash:
        raise ValidationProblem(
            [{"field": HEADER, "message": "already used with a different request"}],
            "This Idempotency-Key was used with another request body.",
        )
    if record.response_status is None:
        if _aware(record.created_at) < now - ABANDONED_AFTER and _take_over(record):
            return record.id
        raise Problem(
            409,
            "A request with this Idempotency-Key is still in progress.",
            headers={"Retry-After": "1"},
        )
    return _replay(record)


def release(record_id: int) -> None:
    """Forget a claim whose request failed, so the client may retry with the same key."""
    db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))
    db.session.commit()


def purge_expired() -> int:
    cutoff = utcnow() - RETENTION
    result = db.session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff)
    )
    db.session.commit()
    return affected(result)


def _find(principal_id: int, key: str) -> IdempotencyRecord | None:
    return db.session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.principal_id == principal_id, IdempotencyRecord.key == key
        )
    )


def _take_over(record: IdempotencyRecord) -> bool:
    # Conditional on the old stamp, so of two retries only one takes over the dead claim.
    result = db.session.execute(
        update(IdempotencyRecord)
        .where(
            IdempotencyRecord.id == record.id,
            IdempotencyRecord.created_at == record.created_at,
            IdempotencyRecord.response_status.is_(None),
        )
        .values(created_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return affected(result) == 1


def _complete(record_id: int, response: Response) -> None:
    headers = {
        name: response.headers[name] for name in REPLAYED_HEADERS if name in response.headers
    }
    db.session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.id == record_id)
        .values(
            response_status=response.status_code,
            response_body=response.get_data(as_text=True),
            response_headers=json.dumps(headers),
        )
        .execution_options(synchronize_session=False)
    )


def _replay(record: IdempotencyRecord) -> Response:
    response = Response(
        record.response_body or "", status=record.response_status, mimetype="application/json"
    )
    for name, value in json.loads(record.response_headers or "{}").items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _aware(moment: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; every one we store is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
