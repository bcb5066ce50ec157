"""Registering OAuth clients: the admin API (`/auth/clients`) and `flask create-client`.

Public clients (browser and mobile apps) get no secret and must use PKCE; confidential ones
get a secret shown once and stored only as a hash. Redirect URIs are compared exactly, so
they are checked here for what exact comparison needs: absolute, no fragment, https or a
loopback http address (RFC 8252 7.3).
"""

from __future__ import annotations

import secrets
from typing import Any

import click
from flask import Blueprint, Flask, Response, jsonify, url_for
from sqlalchemy.exc import IntegrityError

from auth_service.admin import require_admin
from auth_service.extensions import db
from auth_service.oauth_models import OAuthClient, client_secret_hash
from auth_service.oauth_schemas import (
    DEFAULT_GRANT_TYPES,
    DEFAULT_SCOPE,
    GRANT_TYPES,
    MAX_CLIENTS,
    ClientRegistration,
)
from auth_service.schemas import parse
from shared.problems import Problem, ValidationProblem
from shared.requests_json import json_object

bp = Blueprint("oauth_clients", __name__)


def register_client(
    body: dict[str, Any], client_id: str | None = None
) -> tuple[OAuthClient, str | None]:
    """A new client from a registration; its secret (None for a public client)."""
    registration = parse(ClientRegistration, body)
    secret = None if registration.public else secrets.token_urlsafe(32)
    client = OAuthClient(
        client_id=client_id or secrets.token_urlsafe(16),
        name=registration.name.strip(),
        secret_hash=client_secret_hash(secret) if secret else None,
        redirect_uris=registration.redirect_uris,
        grant_types=sorted(set(registration.grant_types)),
        scope=registration.scope,
        first_party=registration.first_party,
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
    clients = db.session.execute(
        db.select(OAuthClient).order_by(OAuthClient.created_at).limit(MAX_CLIENTS)
    ).scalars()
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


def ensure_development_client(app: Flask) -> None:
    """`make up`'s public client (DEV_CLIENT_ID) for trying the code flow from a local app.

    Registered once; safe when several workers start at once (the loser of the insert race
    finds the winner's row). Never in production.
    """
    client_id = app.config["DEV_CLIENT_ID"]
    if not client_id or app.config["APP_ENV"] == "production":
        return
    if db.session.get(OAuthClient, client_id) is not None:
        return
    body = {
        "name": "Development app",
        "public": True,
        "redirect_uris": app.config["DEV_CLIENT_REDIRECT_URIS"],
        "grant_types": DEFAULT_GRANT_TYPES,
        "scope": DEFAULT_SCOPE,
    }
    try:
        register_client(body, client_id)
    except IntegrityError:
        db.session.rollback()


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
