"""The transactional outbox: account events stored with the change, relayed to content.

`record_event` adds a row to the caller's transaction, so an event exists exactly when
its change was committed. A relay thread in each gunicorn worker claims due rows (an
UPDATE that only succeeds on unclaimed rows, so two relays never send the same row at the
same moment), POSTs them to content with a service token, and on a connection error, a
timeout or a 5xx retries later with exponential back-off. Any other 4xx means content
refuses the event as malformed: it is marked failed and logged, never retried. 404, 408
and 429 are retried like a 5xx: they mean "not deployed yet", "too slow", "not now".
Events of one account go out in order: a row waits while an earlier one is pending.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from typing import Any

import requests
from flask import Flask, current_app, g
from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import aliased

from auth_service.extensions import db
from auth_service.models import Account, OutboxEvent, iso, utcnow
from auth_service.tokens import service_token
from shared.http_client import ServiceClient

log = logging.getLogger(__name__)

EVENTS_PATH = "/internal/events"
CLAIM_SECONDS = 60.0
BATCH_SIZE = 20
RETRIED_4XX = frozenset({404, 408, 429})
_EXTENSION = "auth_outbox_relay"


def record_event(event_type: str, account: Account) -> OutboxEvent:
    """Add an event to the current transaction; the caller commits it with the change."""
    data: dict[str, Any] = {"account_id": account.id}
    if event_type != "account.deleted":
        data.update(username=account.username, email=account.email, roles=list(account.roles))
    event_id = str(uuid.uuid4())
    now = utcnow()
    event = OutboxEvent(
        id=event_id,
        type=event_type,
        account_id=account.id,
        body={"id": event_id, "type": event_type, "occurred_at": iso(now), "data": data},
        created_at=now,
        next_attempt_at=time.time(),
    )
    db.session.add(event)
    g.outbox_pending = True
    return event


def _pending() -> Any:
    return and_(OutboxEvent.delivered_at.is_(None), OutboxEvent.failed_at.is_(None))


class OutboxRelay:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.content = ServiceClient(
            app.config["CONTENT_SERVICE_URL"],
            app.config["UPSTREAM_CONNECT_TIMEOUT"],
            app.config["UPSTREAM_READ_TIMEOUT"],
        )
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the background thread ------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
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
                log.exception("outbox relay pass failed")
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
        # A cheap read first: most passes find nothing and should not take a write lock.
        if (
            db.session.execute(
                select(OutboxEvent.seq)
                .where(_pending(), OutboxEvent.next_attempt_at <= now, unclaimed)
                .limit(1)
            ).first()
            is None
        ):
            db.session.rollback()
            return []
        earlier = aliased(OutboxEvent)
        earlier_pending = exists().where(
            earlier.account_id == OutboxEvent.account_id,
            earlier.seq < OutboxEvent.seq,
            earlier.delivered_at.is_(None),
            earlier.failed_at.is_(None),
        )
        due = (
            select(OutboxEvent.seq)
            .where(_pending(), OutboxEvent.next_attempt_at <= now, unclaimed, ~earlier_pending)
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
            response = self.content.post(
                EVENTS_PATH,
                json=event.body,
                headers={"Authorization": f"Bearer {service_token(self.app)}"},
            )
        except requests.RequestException as exc:
            self._retry_later(event, type(exc).__name__)
            return False
        if 200 <= response.status_code < 300:
            event.delivered_at = utcnow()
            event.claimed_until = None
            db.session.commit()
            log.info("delivered %s %s", event.type, event.id, extra={"event_id": event.id})
            return True
        if 400 <= response.status_code < 500 and response.status_code not in RETRIED_4XX:
            event.failed_at = utcnow()
            event.last_error = f"HTTP {response.status_code}"
            db.session.commit()
            log.error(
                "content refused %s %s with %s; not retrying",
                event.type,
                event.id,
                response.status_code,
                extra={"event_id": event.id},
            )
            return True
        self._retry_later(event, f"HTTP {response.status_code}")
        return False

    def _retry_later(self, event: OutboxEvent, error: str) -> None:
        config = self.app.config
        event.attempts += 1
        delay = min(
            config["OUTBOX_BACKOFF_SECONDS"] * 2 ** (event.attempts - 1),
            config["OUTBOX_MAX_BACKOFF_SECONDS"],
        )
        # Jitter spreads the retries of many workers; it is not a secret.
        delay *= random.uniform(0.8, 1.2)  # noqa: S311
        event.next_attempt_at = time.time() + delay
        event.claimed_until = None
        event.last_error = error
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


def init_outbox(app: Flask) -> OutboxRelay:
    relay = OutboxRelay(app)
    app.extensions[_EXTENSION] = relay

    @app.teardown_request
    def wake_relay(exc: BaseException | None) -> None:
        # The event was committed in this request: send it now rather than at the next poll.
        if g.pop("outbox_pending", False):
            relay.wake()

    return relay


def outbox_relay() -> OutboxRelay:
    return current_app.extensions[_EXTENSION]
