"""Posts: anyone reads, signed-in users write, the author or an admin changes and deletes."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, url_for
from sqlalchemy import ColumnElement, Row, bindparam, select

from content_service import counters, row_versions
from content_service.database import read
from content_service.extensions import db
from content_service.idempotency import idempotent
from content_service.listing import contains, page_rows
from content_service.models import Post, User, iso
from content_service.ownership import require_owner_or_admin, writer
from content_service.projection import ensure_user
from content_service.schemas import PostCreate, PostUpdate, parse
from content_service.validation import no_changes, text_filter
from shared import conditional
from shared.auth import require_scope_for_writes
from shared.paging import page_request, paging_headers
from shared.problems import Problem
from shared.requests_json import json_object
from shared.tokens import Principal

bp = Blueprint("posts", __name__)
require_scope_for_writes(bp, "posts:write")

SORTABLE = ("created_at", "updated_at", "title")


AUTHOR = User.username.label("author")
WITH_AUTHOR = (User.__table__, User.id == Post.author_id)
# A read answers from a plain row, its author's name joined in: one statement.
READ_ONE = (
    select(*Post.__table__.c, AUTHOR)
    .join_from(Post, *WITH_AUTHOR, isouter=True)
    .where(Post.id == bindparam("post_id"))
)


def to_public(post: Row[Any]) -> dict[str, Any]:
    """PostPublic's shape, from a row of our own (validated on the way in, trusted here)."""
    return {
        "id": post.id,
        "title": post.title,
        "content": post.content,
        "author": post.author or "",
        "author_id": post.author_id,
        "created_at": iso(post.created_at),
        "updated_at": iso(post.updated_at),
    }


@bp.get("")
def list_posts() -> tuple[Response, int, dict[str, str]]:
    paging = page_request(SORTABLE)
    conditions: list[ColumnElement[bool]] = []
    author = text_filter("author", max_length=80)
    if author is not None:
        conditions.append(Post.author_id.in_(select(User.id).where(User.username == author)))
    q = text_filter("q")
    if q is not None:
        pattern = contains(q)
        conditions.append(
            Post.title.ilike(pattern, escape="\\") | Post.content.ilike(pattern, escape="\\")
        )
    rows, total = page_rows(Post, conditions, paging, (AUTHOR,), WITH_AUTHOR)
    return jsonify([to_public(row) for row in rows]), 200, paging_headers(paging, total)


@bp.get("/<int:post_id>")
def get_post(post_id: int) -> Response:
    post = _read(post_id)
    current = row_versions.etag(post)
    if conditional.not_modified(current):
        return conditional.not_modified_response(current)
    return _answer(post, current)


@bp.post("")
@idempotent
def create_post() -> tuple[Response, int]:
    principal = writer()
    data = parse(PostCreate, json_object())
    ensure_user(principal.id, principal.username)
    post = Post(**data.model_dump(), author_id=principal.id)
    db.session.add(post)
    counters.adjust("posts", 1)
    db.session.flush()
    response = _answer(_read(post.id))
    response.headers["Location"] = url_for("posts.get_post", post_id=post.id)
    return response, 201


@bp.put("/<int:post_id>")
def replace_post(post_id: int) -> Response:
    principal = writer()
    return _update(principal, post_id, parse(PostCreate, json_object()).model_dump())


@bp.patch("/<int:post_id>")
def patch_post(post_id: int) -> Response:
    principal = writer()
    changes = parse(PostUpdate, json_object()).model_dump(exclude_unset=True)
    no_changes(changes)
    return _update(principal, post_id, changes)


@bp.delete("/<int:post_id>")
def delete_post(post_id: int) -> tuple[str, int]:
    principal = writer()
    post = _find(post_id)
    require_owner_or_admin(principal, post.author_id, "post")
    row_versions.delete_row(Post, post)
    counters.adjust("posts", -1)
    db.session.commit()
    return "", 204


def _update(principal: Principal, post_id: int, changes: dict[str, Any]) -> Response:
    post = _find(post_id)
    require_owner_or_admin(principal, post.author_id, "post")
    row_versions.update_row(Post, post, changes)
    db.session.commit()
    return _answer(_read(post_id))


def _answer(post: Row[Any], etag: str | None = None) -> Response:
    """The representation with its ETag (`etag`: already worked out by the caller)."""
    response = jsonify(to_public(post))
    response.headers["ETag"] = etag or row_versions.etag(post)
    return response


def _read(post_id: int) -> Row[Any]:
    post = read(READ_ONE, {"post_id": post_id}).first()
    if post is None:
        raise _missing(post_id)
    return post


def _find(post_id: int) -> Post:
    post = db.session.get(Post, post_id)
    if post is None:
        raise _missing(post_id)
    return post


def _missing(post_id: int) -> Problem:
    return Problem(404, f"Post {post_id} does not exist.")
