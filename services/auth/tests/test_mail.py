"""Mail through the outbox: SMTP_URL, delivery to a real SMTP server, retries, refusals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mailserver import MailServer

from auth_service import create_app
from auth_service.config import load_config
from auth_service.extensions import db
from auth_service.mail import queue_mail
from auth_service.models import Account, OutboxEvent
from auth_service.outbox import outbox_relay
from auth_service.smtp import parse_smtp_url
from shared.config import ConfigError


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    server = MailServer()
    yield server
    server.stop()


@pytest.fixture
def app(make_app, mail_server, redis_server):
    redis_server.flushall()
    return make_app(
        SMTP_URL=f"smtp://127.0.0.1:{mail_server.port}?starttls=no",
        OUTBOX_BACKOFF_SECONDS=0.01,
        SMTP_TIMEOUT=2,
    )


def queue(app, account_id: int, text: str = "Hello there.") -> str:
    with app.app_context():
        account = db.session.get(Account, account_id)
        event = queue_mail(account, "test", "A test", text)
        db.session.commit()
        return event.id


def mail_rows(app) -> list[OutboxEvent]:
    with app.app_context():
        select = db.select(OutboxEvent).where(OutboxEvent.type == "mail.test")
        return list(db.session.execute(select.order_by(OutboxEvent.seq)).scalars())


def make_due(app) -> None:
    with app.app_context():
        db.session.execute(db.update(OutboxEvent).values(next_attempt_at=0))
        db.session.commit()


def deliver(app) -> int:
    with app.app_context():
        return outbox_relay("mail").deliver_due()


@pytest.fixture
def register(app):
    """An account made straight in the database: no verification mail of its own."""

    def make(username: str = "alice") -> dict:
        with app.app_context():
            account = Account(
                username=username,
                username_key=username.lower(),
                email=f"{username}@example.com",
                password_hash="x",
                roles=[],
            )
            db.session.add(account)
            db.session.commit()
            return {"id": account.id}

    return make


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.com", ("mail.example.com", 587, False, True, None, None)),
        (
            "smtps://u%40x:p%3Aw@mail.example.com",
            ("mail.example.com", 465, True, False, "u@x", "p:w"),
        ),
        ("smtp://127.0.0.1:1025?starttls=no", ("127.0.0.1", 1025, False, False, None, None)),
    ],
)
def test_smtp_url_names_the_server_and_its_security(url, expected):
    server = parse_smtp_url(url)
    assert (
        server.host,
        server.port,
        server.implicit_tls,
        server.starttls,
        server.username,
        server.password,
    ) == expected
    assert "p:w" not in repr(server)  # the password never shows in a log of the object


@pytest.mark.parametrize("url", ["http://mail.example.com", "smtp://", "smtp://host:99999"])
def test_unusable_smtp_urls_are_refused_at_start(url):
    with pytest.raises(ConfigError, match="SMTP_URL"):
        parse_smtp_url(url)


def test_production_refuses_to_start_without_smtp_or_with_plain_smtp_abroad(keys_dir):
    secrets = {
        "APP_ENV": "production",
        "SECRET_KEY": "s" * 40,
        "RELAY_CLIENT_SECRET": "t" * 40,
        "TOTP_ENCRYPTION_KEY": "o" * 40,
        "JWT_ISSUER": "https://app.example.com/auth",
    }
    with pytest.raises(ConfigError, match="SMTP_URL must be set"):
        create_app({**secrets, "JWT_KEYS_DIR": str(keys_dir)})
    with pytest.raises(ConfigError, match="without TLS"):
        create_app(
            {
                **secrets,
                "JWT_KEYS_DIR": str(keys_dir),
                "SMTP_URL": "smtp://mx.example.com?starttls=no",
            }
        )
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL"):
        create_app({**secrets, "JWT_KEYS_DIR": str(keys_dir), "SMTP_URL": "smtps://mx.example.com"})
    # A relay on this machine may take plain SMTP.
    assert parse_smtp_url("smtp://localhost:25?starttls=no", production=True).port == 25


@pytest.mark.parametrize(
    ("issuer", "refused"),
    [
        ("http://app.example.com/auth", "ISSUER must be an https URL"),  # plain HTTP abroad
        ("https://app.example.com/auth", None),
        ("http://127.0.0.1:18000/auth", None),  # a production build tried on one host
        (None, "ISSUER must be set in production"),  # unset: `make up`'s loopback default
        ("http://127.0.0.1:8000/auth", "ISSUER must be set in production"),  # that default
    ],
)
def test_production_wants_its_own_https_issuer(monkeypatch, issuer, refused):
    monkeypatch.delenv("ISSUER", raising=False)
    monkeypatch.delenv("JWT_ISSUER", raising=False)
    settings = {
        "APP_ENV": "production",
        "SECRET_KEY": "s" * 40,
        "RELAY_CLIENT_SECRET": "t" * 40,
        "TOTP_ENCRYPTION_KEY": "o" * 40,
        "SMTP_URL": "smtps://mx.example.com",
        "PUBLIC_BASE_URL": "https://app.example.com",
    }
    if issuer is not None:
        settings["JWT_ISSUER"] = issuer
    if refused:
        with pytest.raises(ConfigError, match=refused):
            load_config(settings)
    else:
        assert load_config(settings)["JWT_ISSUER"] == issuer


def test_a_queued_mail_is_sent_and_its_text_is_not_kept(app, register, mail_server):
    mail_server.start()
    account = register()
    queue(app, account["id"], "Follow https://example.test/link?token=s3cret")
    assert deliver(app) == 1
    (message,) = mail_server.messages
    assert message["To"] == "alice@example.com"
    assert message["Subject"] == "Flask Suite: A test"
    assert message["From"] == "Flask Suite <no-reply@localhost>"
    assert "token=s3cret" in message.get_content()
    (row,) = mail_rows(app)
    assert row.delivered_at is not None
    assert row.body == {}  # the single-use link is not kept once the server has it
    assert deliver(app) == 0  # sent once, not again


def test_mail_waits_while_the_server_is_down_and_goes_when_it_returns(app, register, mail_server):
    account = register()
    queue(app, account["id"])
    assert deliver(app) == 0  # connection refused
    (row,) = mail_rows(app)
    assert row.delivered_at is None and row.attempts == 1
    assert row.last_error == "ConnectionRefusedError"
    mail_server.start()
    make_due(app)
    assert deliver(app) == 1
    assert len(mail_server.messages) == 1


def test_mail_does_not_wait_for_account_events_of_the_same_account(app, register, mail_server):
    # Content is unreachable in these tests: the account.created event stays pending.
    mail_server.start()
    account = register()
    queue(app, account["id"])
    assert deliver(app) == 1
    assert len(mail_server.messages) == 1


def test_a_recipient_refused_for_good_is_not_retried(app, register, mail_server):
    mail_server.refuse_recipients = "550 No such mailbox"
    mail_server.start()
    account = register()
    queue(app, account["id"])
    assert deliver(app) == 1  # settled: failed for good
    (row,) = mail_rows(app)
    assert row.failed_at is not None and row.last_error == "recipient refused (550)"
    make_due(app)
    assert deliver(app) == 0


def test_a_recipient_deferred_is_retried(app, register, mail_server):
    mail_server.refuse_recipients = "451 Try again later"
    mail_server.start()
    account = register()
    queue(app, account["id"])
    assert deliver(app) == 0
    mail_server.refuse_recipients = None
    make_due(app)
    assert deliver(app) == 1
    assert len(mail_server.messages) == 1


def test_starttls_is_required_unless_turned_off(make_app, register, mail_server):
    # The test server offers no STARTTLS: the mail must wait, never go out in plain text.
    mail_server.start()
    app = make_app(SMTP_URL=f"smtp://127.0.0.1:{mail_server.port}", SMTP_TIMEOUT=2)
    queue(app, register("bob")["id"])
    assert deliver(app) == 0
    assert mail_server.messages == []
    assert mail_rows(app)[0].last_error == "SMTPNotSupportedError"


def test_credentials_in_the_url_log_in(make_app, register, redis_server):
    server = MailServer(credentials=("mailer", "p@ss word"))
    server.start()
    try:
        app = make_app(SMTP_URL=f"smtp://mailer:p%40ss%20word@127.0.0.1:{server.port}?starttls=no")
        account = register("carol")
        queue(app, account["id"])
        assert deliver(app) == 1
        assert len(server.messages) == 1
        wrong = make_app(SMTP_URL=f"smtp://mailer:nope@127.0.0.1:{server.port}?starttls=no")
        queue(wrong, account["id"])
        assert deliver(wrong) == 0  # kept for a retry once the setting is fixed
        assert len(server.messages) == 1
        assert mail_rows(wrong)[-1].delivered_at is None
    finally:
        server.stop()
