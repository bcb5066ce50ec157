"""Auth's outbox relay as an OAuth client of auth itself: registered at start, tokens by grant.

The relay is a confidential client (`RELAY_CLIENT_ID`, secret `RELAY_CLIENT_SECRET`) holding
only the `events:write` scope. It gets its access token the way any other service would, from
auth's token endpoint over HTTP with the client credentials grant (authlib's client), keeps it
until shortly before it expires, and says "not now" when auth cannot answer, so the outbox
retries the message later.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session
from flask import Flask
from sqlalchemy.exc import IntegrityError

from auth_service.extensions import db
from auth_service.oauth_models import OAuthClient, client_secret_hash
from auth_service.scopes import EVENTS_WRITE

log = logging.getLogger(__name__)

TOKEN_PATH = "/auth/token"  # noqa: S105  # a path, not a secret  # nosec B105
# A cached token is replaced this long before it expires, so it never expires in flight.
RENEW_BEFORE_SECONDS = 30


class CredentialUnavailable(Exception):
    """No relay token right now (auth away, or the client refused): retry later."""


def ensure_relay_client(app: Flask) -> None:
    """Register the relay's client, or bring its secret hash up to RELAY_CLIENT_SECRET.

    Safe when several workers start at once: the loser of the insert race finds the
    winner's row, which holds the same hash.
    """
    client_id = app.config["RELAY_CLIENT_ID"]
    secret_hash = client_secret_hash(app.config["RELAY_CLIENT_SECRET"])
    for _ in range(2):
        client = db.session.get(OAuthClient, client_id)
        if client is not None:
            if client.secret_hash != secret_hash or client.scope != EVENTS_WRITE:
                client.secret_hash = secret_hash  # the secret was rotated
                client.scope = EVENTS_WRITE
                client.grant_types = ["client_credentials"]
                db.session.commit()
                log.info("relay client %s updated", client_id)
            return
        db.session.add(
            OAuthClient(
                client_id=client_id,
                name="Auth outbox relay",
                secret_hash=secret_hash,
                redirect_uris=[],
                grant_types=["client_credentials"],
                scope=EVENTS_WRITE,
                first_party=False,
            )
        )
        try:
            db.session.commit()
            log.info("relay client %s registered", client_id)
            return
        except IntegrityError:
            db.session.rollback()


class RelayCredential:
    """The relay's access token: fetched with client credentials, cached until near expiry."""

    def __init__(self, app: Flask) -> None:
        config = app.config
        self.token_url = config["AUTH_SERVICE_URL"].rstrip("/") + TOKEN_PATH
        self.timeout = (config["UPSTREAM_CONNECT_TIMEOUT"], config["UPSTREAM_READ_TIMEOUT"])
        self.session = OAuth2Session(
            config["RELAY_CLIENT_ID"],
            config["RELAY_CLIENT_SECRET"],
            token_endpoint_auth_method="client_secret_basic",  # noqa: S106  # nosec B106
            scope=EVENTS_WRITE,
        )
        self.session.trust_env = False  # auth's own address, never through a proxy
        # authlib would keep a 5xx problem document as if it were a token: refuse it first.
        self.session.register_compliance_hook("access_token_response", _refuse_unavailable)
        self._lock = threading.Lock()

    def access_token(self) -> str:
        """A token valid for at least RENEW_BEFORE_SECONDS more; fetched only when needed."""
        with self._lock:
            token = self.session.token
            if not token or token.is_expired(leeway=RENEW_BEFORE_SECONDS):
                self._fetch()
            return str(self.session.token["access_token"])

    def forget(self) -> None:
        """Drop the cached token (content refused it): the next call fetches a new one."""
        with self._lock:
            self.session.token = None

    def _fetch(self) -> None:
        try:
            self.session.fetch_token(
                self.token_url, grant_type="client_credentials", timeout=self.timeout
            )
        except AuthlibBaseError as exc:  # invalid_client, invalid_scope: a setting is wrong
            log.error("the relay's token request was refused: %s", exc.error)
            raise CredentialUnavailable(f"token endpoint: {exc.error}") from exc
        except requests.RequestException as exc:  # auth away, slow, or not JSON
            raise CredentialUnavailable(f"token endpoint: {type(exc).__name__}") from exc


def _refuse_unavailable(response: requests.Response) -> Any:
    if response.status_code >= 500 or response.status_code == 429:
        raise CredentialUnavailable(f"token endpoint: HTTP {response.status_code}")
    return response
