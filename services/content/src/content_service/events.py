"""POST /internal/events: auth's account events, accepted only from auth's relay client.

The relay authenticates with an access token from auth's client credentials grant: its
`client_id` (and, as RFC 9068 has it for a client acting for itself, its `sub`) is the relay's
client id, and its scope holds `events:write`.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from content_service.projection import apply_event
from content_service.schemas import AccountEvent, parse
from shared.auth import bearer_token, token_verifier, unauthorized
from shared.problems import Problem
from shared.requests_json import json_object
from shared.tokens import InvalidToken, RevocationUnavailable, scopes

bp = Blueprint("events", __name__)

EVENTS_SCOPE = "events:write"


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
        claims = token_verifier().verify(token)
    except InvalidToken as exc:
        raise unauthorized(f"Invalid service token: {exc}") from exc
    except RevocationUnavailable as exc:
        # 5xx, so auth's outbox keeps the event and retries.
        raise Problem(
            503, "Token revocation cannot be checked right now.", headers={"Retry-After": "5"}
        ) from exc
    relay = current_app.config["RELAY_CLIENT_ID"]
    if claims.get("client_id") != relay or claims.get("sub") != relay:
        raise Problem(403, "Only the auth service may send account events.")
    if EVENTS_SCOPE not in scopes(claims):
        raise Problem(
            403,
            "The token lacks the events:write scope.",
            headers={
                "WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{EVENTS_SCOPE}"'
            },
        )
