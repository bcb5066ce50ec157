"""The transactional outbox: messages stored with the change, relayed until taken.

`record_event` (an account event for content) and `mail.queue_mail` (a mail) add a row to
the caller's transaction, so a message exists exactly when its change was committed. Each
channel has a relay thread in each gunicorn worker: it claims due rows of its channel (an
UPDATE that only succeeds on unclaimed rows, so two relays never send the same row at the
same moment), hands them to its sender, and retries later with exponential back-off when
the sender says the receiver is away. A receiver that refuses a message for good (content
answering a 4xx, an SMTP server a 5xx for the message) marks it failed, logged, never
retried. Messages of one account and channel go out in order: a row waits while an earlier
one is pending, and a slow channel never holds up the other.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from typing import Any, Protocol

import requests
from flask import Flask, current_app, g
from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import aliased

from auth_service.extensions import db
from auth_service.models import Account, OutboxEvent, iso, utcnow
from auth_service.relay_client import CredentialUnavailable, RelayCredential
from shared.http_client import ServiceClient

log = logging.getLogger(__name__)

EVENTS_PATH = "/internal/events"
CLAIM_SECONDS = 60.0
BATCH_SIZE = 20
RETRIED_4XX = frozenset({404, 408, 429})
# Content refusing the relay's token is about the credential, not the event: keep the event.
CREDENTIAL_REFUSED = frozenset({401, 403})
_EXTENSION = "auth_outbox_relay"
_RELAYS = "auth_outbox_relays"
CONTENT_CHANNEL = "content"


class RetryLater(Exception):
    """The receiver is away or busy: try this message again later."""


class Refused(Exception):
    """The receiver refused this message for good: never retry it."""


class Sender(Protocol):
    channel: str
    # Whether a delivered row keeps its body; a mail's holds single-use links, so it goes.
    keeps_body: bool

    def send(self, event: OutboxEvent) -> None:
        """Deliver one message, or raise RetryLater or Refused."""


def record_event(event_type: str, account: Account) -> OutboxEvent:
    """Add an event to the current transaction; the caller commits it with the change."""
    data: dict[str, Any] = {"account_id": account.id}
    if event_type != "account.deleted":
        data.update(username=account.username, email=account.email, roles=list(account.roles))
    event_id = str(uuid.uuid4())
    now = utcnow()
    body = {"id": event_id, "type": event_type, "occurred_at": iso(now), "data": data}
    return add_to_outbox(CONTENT_CHANNEL, event_type, account.id, body, event_id)


def add_to_outbox(
    channel: str, kind: str, account_id: int, body: dict[str, Any], row_id: str | None = None
) -> OutboxEvent:
    """Add a message to the current transaction; the caller commits it with the change."""
    event = OutboxEvent(
        id=row_id or str(uuid.uuid4()),
        channel=channel,
        type=kind,
        account_id=account_id,
        body=body,
        created_at=utcnow(),
        next_attempt_at=time.time(),
    )
    db.session.add(event)
    g.outbox_pending = True
    return event


def _pending() -> Any:
    return and_(OutboxEvent.delivered_at.is_(None), OutboxEvent.failed_at.is_(None))


class ContentSender:
    """Account events to content's /internal/events, with the relay client's access token."""

    channel = CONTENT_CHANNEL
    keeps_body = True

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.credential = RelayCredential(app)
        self.content = ServiceClient(
            app.config["CONTENT_SERVICE_URL"],
            app.config["UPSTREAM_CONNECT_TIMEOUT"],
            app.config["UPSTREAM_READ_TIMEOUT"],
        )

    def send(self, event: OutboxEvent) -> None:
        try:
            token = self.credential.access_token()
        except CredentialUnavailable as exc:
            raise RetryLater(str(exc)) from exc
        try:
            response = self.content.post(
                EVENTS_PATH, json=event.body, headers={"Authorization": f"Bearer {token}"}
            )
        except requests.RequestException as exc:
            raise RetryLater(type(exc).__name__) from exc
        if 200 <= response.status_code < 300:
            return
        if response.status_code in CREDENTIAL_REFUSED:
            self.credential.forget()  # revoked, or signed by a key content cannot see yet
            raise RetryLater(f"HTTP {response.status_code}")
        if 400 <= response.status_code < 500 and response.status_code not in RETRIED_4XX:
            raise Refused(f"HTTP {response.status_code}")
        raise RetryLater(f"HTTP {response.status_code}")


class OutboxRelay:
    def __init__(self, app: Flask, sender: Sender) -> None:
        self.app = app
        self.sender = sender
        self.channel = sender.channel
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the background thread ------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"outbox-relay-{self.channel}", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        poll = self.app.config["OUTBOX_POLL_SECONDS"]
        while not self._stop.is_set():
            try:
                sent = self.deliver_due()
            except Exception:  # a bad pass must not end the thread; the next one retries
                log.exception("outbox relay pass failed", extra={"channel": self.channel})
                sent = 0
            if not sent:
                self._wake.wait(poll)
                self._wake.clear()

    # -- one pass ---------------------------------------------------------------

    def deliver_due(self) -> int:
        """Claim the due events and try each once; returns how many were settled."""
        with self.app.app_context():
            try:
                claimed = self._claim()
                settled = sum(self._deliver(event) for event in claimed)
            finally:
                db.session.remove()
        return settled

    def _claim(self) -> list[OutboxEvent]:
        now = time.time()
        unclaimed = or_(OutboxEvent.claimed_until.is_(None), OutboxEvent.claimed_until < now)
        mine = OutboxEvent.channel == self.channel
        # A cheap read first: most passes find nothing and should not take a write lock.
        if (
            db.session.execute(
                select(OutboxEvent.seq)
                .where(mine, _pending(), OutboxEvent.next_attempt_at <= now, unclaimed)
                .limit(1)
            ).first()
            is None
        ):
            db.session.rollback()
            return []
        earlier = aliased(OutboxEvent)
        earlier_pending = exists().where(
            earlier.account_id == OutboxEvent.account_id,
            earlier.channel == OutboxEvent.channel,
            earlier.seq < OutboxEvent.seq,
            earlier.delivered_at.is_(None),
            earlier.failed_at.is_(None),
        )
        due = (
            select(OutboxEvent.seq)
            .where(mine, _pending(), OutboxEvent.next_attempt_at <= now, unclaimed)
            .where(~earlier_pending)
            .order_by(OutboxEvent.seq)
            .limit(BATCH_SIZE)
            .scalar_subquery()
        )
        token = uuid.uuid4().hex
        db.session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.seq.in_(due), _pending(), unclaimed)
            .values(claim_token=token, claimed_until=now + CLAIM_SECONDS)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        return list(
            db.session.execute(
                select(OutboxEvent)
                .where(OutboxEvent.claim_token == token)
                .order_by(OutboxEvent.seq)
            ).scalars()
        )

    def _deliver(self, event: OutboxEvent) -> bool:
        try:
            self.sender.send(event)
        except RetryLater as exc:
            self._retry_later(event, str(exc))
            return False
        except Refused as exc:
            event.failed_at = utcnow()
            event.last_error = str(exc)[:200]
            db.session.commit()
            log.error(
                "%s refused %s %s (%s); not retrying",
                self.channel,
                event.type,
                event.id,
                exc,
                extra={"event_id": event.id},
            )
            return True
        event.delivered_at = utcnow()
        event.claimed_until = None
        if not self.sender.keeps_body:
            event.body = {}
        db.session.commit()
        log.info("delivered %s %s", event.type, event.id, extra={"event_id": event.id})
        return True

    def _retry_later(self, event: OutboxEvent, error: str) -> None:
        config = self.app.config
        event.attempts += 1
        delay = min(
            config["OUTBOX_BACKOFF_SECONDS"] * 2 ** (event.attempts - 1),
            config["OUTBOX_MAX_BACKOFF_SECONDS"],
        )
        # Jitter spreads the retries of many workers; it is not a secret.
        delay *= random.uniform(0.8, 1.2)  # noqa: S311  # jitter, not security  # nosec B311
        event.next_attempt_at = time.time() + delay
        event.claimed_until = None
        event.last_error = error[:200]
        db.session.commit()
        log.warning(
            "could not deliver %s %s (%s); retry %d in %.1f s",
            event.type,
            event.id,
            error,
            event.attempts,
            delay,
            extra={"event_id": event.id},
        )


def init_outbox(app: Flask, *senders: Sender) -> list[OutboxRelay]:
    """One relay per channel: account events to content, and whatever else is given."""
    relays = [OutboxRelay(app, ContentSender(app)), *(OutboxRelay(app, s) for s in senders)]
    app.extensions[_EXTENSION] = relays[0]
    app.extensions[_RELAYS] = relays

    @app.teardown_request
    def wake_relays(exc: BaseException | None) -> None:
        # A message was committed in this request: send it now rather than at the next poll.
        if g.pop("outbox_pending", False):
            for relay in relays:
                relay.wake()

    return relays


def outbox_relay(channel: str = CONTENT_CHANNEL) -> OutboxRelay:
    relays: list[OutboxRelay] = current_app.extensions[_RELAYS]
    return next(relay for relay in relays if relay.channel == channel)
