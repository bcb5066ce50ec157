"""Profiles: anyone reads them; the user or an admin edits display_name and bio.

The email is shown only to the user and to admins; the answer varies with the token,
so it says `Vary: Authorization` and its ETag differs between the two views.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy import Row, bindparam, select

from content_service import row_versions
from content_service.database import read
from content_service.extensions import db
from content_service.listing import page_rows
from content_service.models import User, iso
from content_service.ownership import require_owner_or_admin, writer
from content_service.schemas import UserUpdate, parse
from content_service.validation import no_changes
from shared import conditional
from shared.auth import optional_auth
from shared.paging import page_request, paging_headers
from shared.problems import Problem
from shared.requests_json import json_object
from shared.tokens import Principal

bp = Blueprint("users", __name__)

SORTABLE = ("created_at", "username")


# A read answers from a plain row: no ORM object, identity map or change tracking to build.
READ_ONE = select(*User.__table__.c).where(User.id == bindparam("user_id"))


def to_public(user: User | Row[Any], with_email: bool) -> dict[str, Any]:
    """UserPublic's shape, from a row of our own (validated on the way in, trusted here)."""
    fields = {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "bio": user.bio,
        "created_at": iso(user.created_at),
    }
    if with_email:
        fields["email"] = user.email
    return fields


def _sees_email(viewer: Principal | None, user: User | Row[Any]) -> bool:
    return viewer is not None and (viewer.id == user.id or viewer.is_admin)


@bp.get("")
def list_users() -> tuple[Response, int, dict[str, str]]:
    paging = page_request(SORTABLE)
    viewer = optional_auth()
    rows, total = page_rows(User, [], paging)
    body = [to_public(u, _sees_email(viewer, u)) for u in rows]
    return jsonify(body), 200, {**paging_headers(paging, total), "Vary": "Authorization"}


@bp.get("/<int:user_id>")
def get_user(user_id: int) -> Response:
    viewer = optional_auth()
    user = read(READ_ONE, {"user_id": user_id}).first()
    if user is None:
        raise _missing(user_id)
    current = row_versions.etag(user, private=_sees_email(viewer, user))
    if conditional.not_modified(current):
        response = conditional.not_modified_response(current)
        response.headers["Vary"] = "Authorization"
        return response
    return _answer(user, _sees_email(viewer, user))


@bp.patch("/<int:user_id>")
def patch_user(user_id: int) -> Response:
    principal = writer()
    changes = parse(UserUpdate, json_object()).model_dump(exclude_unset=True)
    no_changes(changes)
    user = _find(user_id)
    require_owner_or_admin(principal, user.id, "profile")
    row_versions.update_row(User, user, changes)
    db.session.commit()
    return _answer(_find(user_id), with_email=True)


def _answer(user: User | Row[Any], with_email: bool) -> Response:
    response = jsonify(to_public(user, with_email))
    response.headers["ETag"] = row_versions.etag(user, private=with_email)
    response.headers["Vary"] = "Authorization"
    return response


def _find(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise _missing(user_id)
    return user


def _missing(user_id: int) -> Problem:
    return Problem(404, f"User {user_id} does not exist.")
