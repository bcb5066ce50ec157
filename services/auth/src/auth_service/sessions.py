"""Login and the public key set."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import func, or_

from auth_service.extensions import db
from auth_service.models import Account
from auth_service.passwords import MAX_LENGTH, hash_password, needs_rehash, verify_password
from auth_service.tokens import issue_token_pair, token_response
from shared.problems import Problem, ValidationProblem
from shared.requests_json import json_object

bp = Blueprint("sessions", __name__)

INVALID_CREDENTIALS = "Invalid username or password."


@bp.post("/login")
def login() -> tuple[Response, int]:
    body = json_object()
    username, password = body.get("username"), body.get("password")
    errors = [
        {"field": name, "message": "required"}
        for name, value in (("username", username), ("password", password))
        if not isinstance(value, str) or not value
    ]
    if errors:
        raise ValidationProblem(errors)
    assert isinstance(username, str) and isinstance(password, str)
    # Refuse absurd inputs before hashing: hashing a megabyte costs real CPU.
    if len(password) > MAX_LENGTH or len(username) > 254:
        raise Problem(401, INVALID_CREDENTIALS)
    key = username.strip().lower()
    account = db.session.execute(
        db.select(Account).where(or_(Account.username_key == key, func.lower(Account.email) == key))
    ).scalar_one_or_none()
    # An unknown user still costs one hash verification, so timing tells nothing.
    valid = verify_password(account.password_hash if account else None, password)
    if account is None or not valid or account.disabled:
        raise Problem(401, INVALID_CREDENTIALS)
    if needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
        db.session.commit()
    return token_response(issue_token_pair(account))


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    response = jsonify(current_app.extensions["key_ring"].jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
