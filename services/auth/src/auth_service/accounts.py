"""Account endpoints: register and read your own account."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, url_for
from sqlalchemy.exc import IntegrityError

from auth_service.extensions import db
from auth_service.models import Account
from auth_service.passwords import hash_password
from auth_service.validation import (
    check_email,
    check_known_fields,
    check_password,
    check_username,
)
from shared.auth import current_principal, require_auth
from shared.problems import Problem, ValidationProblem
from shared.requests_json import json_object

bp = Blueprint("accounts", __name__)


@bp.post("/register")
def register() -> tuple[Response, int, dict[str, str]]:
    body = json_object()
    errors: list[dict[str, str]] = []
    check_known_fields(body, {"username", "email", "password"}, errors)
    check_username(body.get("username"), errors)
    check_email(body.get("email"), errors)
    check_password(body.get("password"), errors)
    if errors:
        raise ValidationProblem(errors)
    username, email = body["username"], body["email"].strip().lower()
    account = Account(
        username=username,
        username_key=username.lower(),
        email=email,
        password_hash=hash_password(body["password"]),
        roles=[],
    )
    db.session.add(account)
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise Problem(409, "That username or email is already taken.") from exc
    location = url_for("accounts.me", _external=False)
    return jsonify(account.to_public()), 201, {"Location": f"{location}"}


@bp.get("/me")
@require_auth
def me() -> Response:
    principal = current_principal()
    account = db.session.get(Account, principal.id) if principal else None
    if account is None or account.disabled:
        raise Problem(401, "The account no longer exists.")
    return jsonify(account.to_public())
