"""Mail out through an SMTP server named by SMTP_URL, as the outbox's "mail" channel.

`smtps://user:password@host:465` speaks TLS from the first byte; `smtp://host:587` must
upgrade with STARTTLS (a server that does not offer it is an error, never a silent
fallback to plain text). `?starttls=no` turns that off for a server on this machine, such
as the development mail catcher; production accepts it only for a loopback host. The
user name and password are percent-decoded and never logged.
"""

from __future__ import annotations

import ipaddress
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

from auth_service.models import OutboxEvent
from auth_service.outbox import Refused, RetryLater
from shared.config import ConfigError

MAIL_CHANNEL = "mail"
DEFAULT_PORTS = {"smtp": 587, "smtps": 465}


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def parse_smtp_url(url: str, production: bool = False) -> SmtpServer:
    """The server SMTP_URL names; ConfigError (naming no secret) when it is unusable."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ConfigError("SMTP_URL must look like smtp://host:587 or smtps://host:465")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError as exc:
        raise ConfigError("SMTP_URL has an invalid port") from exc
    options = parse_qs(parts.query)
    starttls = options.get("starttls", ["yes"])[-1].lower() not in ("no", "false", "0", "off")
    server = SmtpServer(
        host=parts.hostname,
        port=port,
        implicit_tls=parts.scheme == "smtps",
        starttls=parts.scheme == "smtp" and starttls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )
    if production and not (server.implicit_tls or server.starttls or server.is_loopback):
        raise ConfigError("SMTP_URL without TLS is only allowed to a server on this machine")
    return server


class MailSender:
    """Sends the outbox's mail rows: {"to", "subject", "text"}."""

    channel = MAIL_CHANNEL
    keeps_body = False  # the text holds single-use links: gone once the server has it

    def __init__(self, server: SmtpServer | None, sender: str, timeout: float) -> None:
        self.server = server
        self.sender = sender
        self.timeout = timeout

    def message(self, event: OutboxEvent) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = event.body["to"]
        message["Subject"] = event.body["subject"]
        message["Date"] = formatdate(localtime=False)
        domain = parseaddr(self.sender)[1].rpartition("@")[2] or None
        # The row's id: a message retried after a lost answer can be recognised as one.
        message["Message-ID"] = make_msgid(idstring=event.id, domain=domain)
        message.set_content(event.body["text"])
        return message

    def send(self, event: OutboxEvent) -> None:
        if self.server is None:
            raise RetryLater("SMTP_URL is not set")
        try:
            with self._connect() as client:
                client.send_message(self.message(event))
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(code >= 500 for code in codes):
                raise Refused(f"recipient refused ({codes[0]})") from exc
            raise RetryLater(f"recipient deferred ({codes[0]})") from exc
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            if exc.smtp_code >= 500:
                raise Refused(f"message refused ({exc.smtp_code})") from exc
            raise RetryLater(f"message deferred ({exc.smtp_code})") from exc
        except (smtplib.SMTPException, OSError) as exc:
            # Down, unreachable, TLS or login trouble: the mail waits until it is fixed.
            raise RetryLater(type(exc).__name__) from exc

    def _connect(self) -> smtplib.SMTP:
        server = self.server
        assert server is not None  # type narrowing only  # nosec B101
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if server.implicit_tls:
            client = smtplib.SMTP_SSL(
                server.host, server.port, timeout=self.timeout, context=context
            )
        else:
            client = smtplib.SMTP(server.host, server.port, timeout=self.timeout)
        try:
            if server.starttls:
                client.starttls(context=context)  # raises when the server does not offer it
            if server.username:
                client.login(server.username, server.password or "")
        except BaseException:
            client.close()
            raise
        return client
