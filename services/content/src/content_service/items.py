"""Items: anyone reads, signed-in users create, the owner or an admin changes and deletes."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, url_for
from sqlalchemy import ColumnElement, Row, bindparam, select

from content_service import counters, row_versions
from content_service.database import read
from content_service.extensions import db
from content_service.idempotency import idempotent
from content_service.listing import contains, page_rows
from content_service.models import Item, iso
from content_service.ownership import require_owner_or_admin, writer
from content_service.schemas import ItemCreate, ItemUpdate, parse
from content_service.validation import no_changes, number_filters, text_filter
from shared import conditional
from shared.auth import require_scope_for_writes
from shared.paging import page_request, paging_headers
from shared.problems import Problem, ValidationProblem
from shared.requests_json import json_object
from shared.tokens import Principal

bp = Blueprint("items", __name__)
require_scope_for_writes(bp, "items:write")

SORTABLE = ("created_at", "updated_at", "name", "price")
# A read answers from a plain row: no ORM object, identity map or change tracking to build.
READ_ONE = select(*Item.__table__.c).where(Item.id == bindparam("item_id"))


def to_public(item: Item | Row[Any]) -> dict[str, Any]:
    """ItemPublic's shape, from a row of our own (validated on the way in, trusted here)."""
    return {
        "id": item.id,
        "name": item.name,
        "description": item.description,
        "price": float(item.price),
        "owner_id": item.owner_id,
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
    }


@bp.get("")
def list_items() -> tuple[Response, int, dict[str, str]]:
    paging = page_request(SORTABLE)
    conditions: list[ColumnElement[bool]] = []
    q = text_filter("q")
    if q is not None:
        pattern = contains(q)
        conditions.append(
            Item.name.ilike(pattern, escape="\\") | Item.description.ilike(pattern, escape="\\")
        )
    prices = number_filters("min_price", "max_price")
    if (
        "min_price" in prices
        and "max_price" in prices
        and prices["min_price"] > prices["max_price"]
    ):
        raise ValidationProblem([{"field": "min_price", "message": "must not exceed max_price"}])
    if "min_price" in prices:
        conditions.append(Item.price >= prices["min_price"])
    if "max_price" in prices:
        conditions.append(Item.price <= prices["max_price"])
    rows, total = page_rows(Item, conditions, paging)
    return jsonify([to_public(row) for row in rows]), 200, paging_headers(paging, total)


@bp.get("/<int:item_id>")
def get_item(item_id: int) -> Response:
    item = read(READ_ONE, {"item_id": item_id}).first()
    if item is None:
        raise _missing(item_id)
    current = row_versions.etag(item)
    if conditional.not_modified(current):
        return conditional.not_modified_response(current)
    return _answer(item, current)


@bp.post("")
@idempotent
def create_item() -> tuple[Response, int]:
    principal = writer()
    data = parse(ItemCreate, json_object())
    item = Item(**data.model_dump(), owner_id=principal.id)
    db.session.add(item)
    counters.adjust("items", 1)
    db.session.flush()
    response = _answer(item)
    response.headers["Location"] = url_for("items.get_item", item_id=item.id)
    return response, 201


@bp.put("/<int:item_id>")
def replace_item(item_id: int) -> Response:
    principal = writer()
    return _update(principal, item_id, parse(ItemCreate, json_object()).model_dump())


@bp.patch("/<int:item_id>")
def patch_item(item_id: int) -> Response:
    principal = writer()
    changes = parse(ItemUpdate, json_object()).model_dump(exclude_unset=True)
    no_changes(changes)
    return _update(principal, item_id, changes)


@bp.delete("/<int:item_id>")
def delete_item(item_id: int) -> tuple[str, int]:
    principal = writer()
    item = _find(item_id)
    require_owner_or_admin(principal, item.owner_id, "item")
    row_versions.delete_row(Item, item)
    counters.adjust("items", -1)
    db.session.commit()
    return "", 204


def _update(principal: Principal, item_id: int, changes: dict[str, Any]) -> Response:
    item = _find(item_id)
    require_owner_or_admin(principal, item.owner_id, "item")
    row_versions.update_row(Item, item, changes)
    db.session.commit()
    return _answer(_find(item_id))


def _answer(item: Item | Row[Any], etag: str | None = None) -> Response:
    """The representation with its ETag (`etag`: already worked out by the caller)."""
    response = jsonify(to_public(item))
    response.headers["ETag"] = etag or row_versions.etag(item)
    return response


def _find(item_id: int) -> Item:
    item = db.session.get(Item, item_id)
    if item is None:
        raise _missing(item_id)
    return item


def _missing(item_id: int) -> Problem:
    return Problem(404, f"Item {item_id} does not exist.")
