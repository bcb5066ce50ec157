"""Profiles: anyone reads them; the user or an admin edits display_name and bio.

The email is shown only to the user and to admins; the answer varies with the token,
so it says `Vary: Authorization` and its ETag differs between the two views.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from content_service import row_versions
from content_service.extensions import db
from content_service.listing import page_ids, rows_in_order
from content_service.models import User, aware
from content_service.ownership import require_owner_or_admin, writer
from content_service.schemas import UserPublic, UserUpdate, parse
from content_service.validation import no_changes
from shared import conditional
from shared.auth import optional_auth
from shared.paging import page_request, paging_headers
from shared.problems import Problem
from shared.requests_json import json_object
from shared.schemas import public
from shared.tokens import Principal

bp = Blueprint("users", __name__)

SORTABLE = ("created_at", "username")


def to_public(user: User, with_email: bool) -> dict[str, Any]:
    fields = {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "bio": user.bio,
        "created_at": aware(user.created_at),
        "email": user.email,
    }
    return public(UserPublic, fields, exclude=None if with_email else {"email"})


def _sees_email(viewer: Principal | None, user: User) -> bool:
    return viewer is not None and (viewer.id == user.id or viewer.is_admin)


@bp.get("")
def list_users() -> tuple[Response, int, dict[str, str]]:
    paging = page_request(SORTABLE)
    viewer = optional_auth()
    ids, total = page_ids(User, [], paging)
    body = [to_public(u, _sees_email(viewer, u)) for u in rows_in_order(User, ids)]
    return jsonify(body), 200, {**paging_headers(paging, total), "Vary": "Authorization"}


@bp.get("/<int:user_id>")
def get_user(user_id: int) -> Response:
    viewer = optional_auth()
    user = _find(user_id)
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


def _answer(user: User, with_email: bool) -> Response:
    response = jsonify(to_public(user, with_email))
    response.headers["ETag"] = row_versions.etag(user, private=with_email)
    response.headers["Vary"] = "Authorization"
    return response


def _find(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise Problem(404, f"User {user_id} does not exist.")
    return user
