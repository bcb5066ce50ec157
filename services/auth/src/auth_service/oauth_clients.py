"""Registering OAuth clients: the admin API (`/auth/clients`) and `flask create-client`.

Public clients (browser and mobile apps) get no secret and must use PKCE; confidential ones
get a secret shown once and stored only as a hash. Redirect URIs are compared exactly, so
they are checked here for what exact comparison needs: absolute, no fragment, https or a
loopback http address (RFC 8252 7.3).
"""

from __future__ import annotations

import ipaddress
import secrets
from typing import Any
from urllib.parse import urlsplit

import click
from flask import Blueprint, Flask, Response, jsonify, url_for

from auth_service.admin import require_admin
from auth_service.extensions import db
from auth_service.oauth_models import OAuthClient, client_secret_hash
from auth_service.scopes import USER_SCOPES
from auth_service.validation import Errors, check_known_fields
from shared.problems import Problem, ValidationProblem
from shared.requests_json import json_object

bp = Blueprint("oauth_clients", __name__)

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials", "password")
DEFAULT_GRANT_TYPES = ["authorization_code", "refresh_token"]
DEFAULT_SCOPE = "openid profile email items:write posts:write"
MAX_REDIRECT_URIS = 10
FIELDS = {"name", "public", "redirect_uris", "grant_types", "scope", "first_party"}


def redirect_uri_problem(uri: Any) -> str | None:
    if not isinstance(uri, str) or not 1 <= len(uri) <= 2000:
        return "a URI of 1 to 2,000 characters"
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "not a URI"
    if parts.fragment or "#" in uri:
        return "must not have a fragment"
    if not parts.hostname:
        return "must be absolute"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and _loopback(parts.hostname):
        return None
    return "must be https (or http on a loopback address)"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_registration(body: dict[str, Any]) -> Errors:
    errors: Errors = []
    check_known_fields(body, FIELDS, errors)
    name = body.get("name")
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 100:
        errors.append({"field": "name", "message": "1 to 100 characters"})
    for flag in ("public", "first_party"):
        if not isinstance(body.get(flag, False), bool):
            errors.append({"field": flag, "message": "must be true or false"})
    grants = body.get("grant_types", DEFAULT_GRANT_TYPES)
    if not isinstance(grants, list) or not grants or not set(grants) <= set(GRANT_TYPES):
        errors.append({"field": "grant_types", "message": f"a list of {', '.join(GRANT_TYPES)}"})
    elif body.get("public") is True and "client_credentials" in grants:
        errors.append(
            {"field": "grant_types", "message": "a public client has no client credentials"}
        )
    uris = body.get("redirect_uris", [])
    if not isinstance(uris, list) or len(uris) > MAX_REDIRECT_URIS:
        errors.append({"field": "redirect_uris", "message": f"a list of up to {MAX_REDIRECT_URIS}"})
    else:
        for uri in uris:
            problem = redirect_uri_problem(uri)
            if problem:
                errors.append({"field": "redirect_uris", "message": f"{uri!r}: {problem}"[:300]})
        if isinstance(grants, list) and "authorization_code" in grants and not uris:
            errors.append(
                {"field": "redirect_uris", "message": "the authorization code grant needs one"}
            )
    scope = body.get("scope", DEFAULT_SCOPE)
    if not isinstance(scope, str) or not set(scope.split()) <= set(USER_SCOPES):
        errors.append({"field": "scope", "message": f"space-separated, of {' '.join(USER_SCOPES)}"})
    return errors


def register_client(body: dict[str, Any]) -> tuple[OAuthClient, str | None]:
    """A new client from a checked registration; its secret (None for a public client)."""
    errors = check_registration(body)
    if errors:
        raise ValidationProblem(errors)
    public = bool(body.get("public", False))
    secret = None if public else secrets.token_urlsafe(32)
    client = OAuthClient(
        client_id=secrets.token_urlsafe(16),
        name=body["name"].strip(),
        secret_hash=client_secret_hash(secret) if secret else None,
        redirect_uris=list(body.get("redirect_uris", [])),
        grant_types=sorted(set(body.get("grant_types", DEFAULT_GRANT_TYPES))),
        scope=" ".join(dict.fromkeys(body.get("scope", DEFAULT_SCOPE).split())),
        first_party=bool(body.get("first_party", False)),
    )
    db.session.add(client)
    db.session.commit()
    return client, secret


def _client_or_404(client_id: str) -> OAuthClient:
    client = db.session.get(OAuthClient, client_id)
    if client is None:
        raise Problem(404, f"No client {client_id}.")
    return client


@bp.post("/clients")
@require_admin
def create() -> tuple[Response, int]:
    client, secret = register_client(json_object())
    representation = client.to_public()
    if secret:
        representation["client_secret"] = secret  # shown this once, never again
    response = jsonify(representation)
    response.headers["Location"] = url_for("oauth_clients.get", client_id=client.client_id)
    response.headers["Cache-Control"] = "no-store"
    return response, 201


@bp.get("/clients")
@require_admin
def list_clients() -> Response:
    clients = db.session.execute(db.select(OAuthClient).order_by(OAuthClient.created_at)).scalars()
    return jsonify([c.to_public() for c in clients])


@bp.get("/clients/<client_id>")
@require_admin
def get(client_id: str) -> Response:
    return jsonify(_client_or_404(client_id).to_public())


@bp.delete("/clients/<client_id>")
@require_admin
def delete(client_id: str) -> tuple[str, int]:
    db.session.delete(_client_or_404(client_id))
    db.session.commit()
    return "", 204


def init_cli(app: Flask) -> None:
    @app.cli.command("create-client")
    @click.option("--name", required=True)
    @click.option("--redirect-uri", "redirect_uris", multiple=True, help="exact; repeatable")
    @click.option("--public/--confidential", default=False, help="public: no secret, PKCE")
    @click.option("--grant-type", "grant_types", multiple=True, type=click.Choice(GRANT_TYPES))
    @click.option("--scope", default=DEFAULT_SCOPE, show_default=True)
    @click.option("--first-party", is_flag=True, help="one of the suite's own apps")
    def create_client(
        name: str,
        redirect_uris: tuple[str, ...],
        public: bool,
        grant_types: tuple[str, ...],
        scope: str,
        first_party: bool,
    ) -> None:
        """Register an OAuth client; prints its id (and its secret, shown only now)."""
        body = {
            "name": name,
            "redirect_uris": list(redirect_uris),
            "public": public,
            "grant_types": list(grant_types or DEFAULT_GRANT_TYPES),
            "scope": scope,
            "first_party": first_party,
        }
        try:
            client, secret = register_client(body)
        except ValidationProblem as problem:
            messages = [f"{e['field']}: {e['message']}" for e in problem.errors or []]
            raise click.ClickException("; ".join(messages)) from problem
        click.echo(f"client_id: {client.client_id}")
        if secret:
            click.echo(f"client_secret: {secret}")
