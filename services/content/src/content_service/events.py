"""POST /internal/events: auth's account events, accepted only with auth's service token."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from content_service.projection import apply_event
from content_service.schemas import AccountEvent, parse
from shared.auth import bearer_token, token_verifier, unauthorized
from shared.problems import Problem
from shared.requests_json import json_object
from shared.tokens import InvalidToken, RevocationUnavailable

bp = Blueprint("events", __name__)

AUTH_SERVICE_SUBJECT = "service:auth"


@bp.post("/events")
def receive() -> tuple[Response, int]:
    _verify_auth_service()
    event = parse(AccountEvent, json_object(), strict=False)
    outcome = apply_event(event)
    return jsonify(id=event.id, status=outcome), 200


def _verify_auth_service() -> None:
    token = bearer_token()
    if token is None:
        raise Problem(401, "A service token is required.", headers={"WWW-Authenticate": "Bearer"})
    try:
        claims = token_verifier().verify(token, expected_type="service")
    except InvalidToken as exc:
        raise unauthorized(f"Invalid service token: {exc}") from exc
    except RevocationUnavailable as exc:
        # 5xx, so auth's outbox keeps the event and retries.
        raise Problem(
            503, "Token revocation cannot be checked right now.", headers={"Retry-After": "5"}
        ) from exc
    if claims.get("sub") != AUTH_SERVICE_SUBJECT:
        raise Problem(403, "Only the auth service may send account events.")
