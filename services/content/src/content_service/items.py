"""Items: anyone reads, signed-in users create, the owner or an admin changes and deletes."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from content_service.extensions import db
from content_service.models import Item, iso, utcnow
from content_service.paging import page_request, paging_headers
from content_service.schemas import ItemCreate, ItemUpdate, parse
from shared.auth import authenticate
from shared.problems import Problem, ValidationProblem
from shared.requests_json import json_object

bp = Blueprint("items", __name__)

SORTABLE = ("created_at", "updated_at", "name", "price")


def to_public(item: Item) -> dict[str, Any]:
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
    query = db.select(Item)
    q = request.args.get("q")
    if q:
        pattern = f"%{q}%"
        query = query.where(Item.name.ilike(pattern) | Item.description.ilike(pattern))
    for name, op in (("min_price", "__ge__"), ("max_price", "__le__")):
        raw = request.args.get(name)
        if raw is not None:
            try:
                query = query.where(getattr(Item.price, op)(float(raw)))
            except ValueError as exc:
                raise ValidationProblem([{"field": name, "message": "must be a number"}]) from exc
    total = db.session.scalar(db.select(db.func.count()).select_from(query.subquery())) or 0
    column = getattr(Item, paging.sort_field)
    order = column.desc() if paging.descending else column.asc()
    tiebreak = Item.id.desc() if paging.descending else Item.id.asc()
    rows = db.session.scalars(
        query.order_by(order, tiebreak).offset(paging.offset).limit(paging.per_page)
    ).all()
    return jsonify([to_public(i) for i in rows]), 200, paging_headers(paging, total)


@bp.get("/<int:item_id>")
def get_item(item_id: int) -> Response:
    return jsonify(to_public(_find(item_id)))


@bp.post("")
def create_item() -> tuple[Response, int, dict[str, str]]:
    principal = authenticate()
    data = parse(ItemCreate, json_object())
    item = Item(**data.model_dump(), owner_id=principal.id)
    db.session.add(item)
    db.session.commit()
    location = url_for("items.get_item", item_id=item.id)
    return jsonify(to_public(item)), 201, {"Location": location}


@bp.put("/<int:item_id>")
def replace_item(item_id: int) -> Response:
    return _update(item_id, parse(ItemCreate, json_object()).model_dump())


@bp.patch("/<int:item_id>")
def patch_item(item_id: int) -> Response:
    return _update(item_id, parse(ItemUpdate, json_object()).model_dump(exclude_unset=True))


@bp.delete("/<int:item_id>")
def delete_item(item_id: int) -> tuple[str, int]:
    item = _owned(item_id)
    db.session.delete(item)
    db.session.commit()
    return "", 204


def _update(item_id: int, changes: dict[str, Any]) -> Response:
    item = _owned(item_id)
    for name, value in changes.items():
        if value is None:
            raise ValidationProblem([{"field": name, "message": "may not be null"}])
        setattr(item, name, value)
    item.updated_at = utcnow()
    db.session.commit()
    return jsonify(to_public(item))


def _find(item_id: int) -> Item:
    item = db.session.get(Item, item_id)
    if item is None:
        raise Problem(404, f"Item {item_id} does not exist.")
    return item


def _owned(item_id: int) -> Item:
    principal = authenticate()
    item = _find(item_id)
    if item.owner_id != principal.id and not principal.is_admin:
        raise Problem(403, "Only the owner or an admin may change this item.")
    return item
