"""SMTP delivery: multipart text + HTML messages through the configured server.

Errors say what to do next: :class:`TransientMailError` (the server is away, busy, or answered
4xx) is retried with backoff; :class:`PermanentMailError` (5xx: the address or message is
refused) fails the outbox row. A server that accepted the message has taken responsibility
for it; what happens after (bounces) arrives as mail to the sender address, not here.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate

from laurel.config import Settings
from laurel.notifications.render import Rendered


class MailError(Exception):
    pass


class TransientMailError(MailError):
    pass


class PermanentMailError(MailError):
    pass


@dataclass(frozen=True, slots=True)
class Envelope:
    sender_address: str
    sender_name: str | None
    to: str
    reply_to: str | None
    message_id: str


def build_message(envelope: Envelope, rendered: Rendered) -> EmailMessage:
    """A multipart/alternative message: the plain-text part first, the HTML part preferred."""
    message = EmailMessage()
    message["From"] = str(
        Address(display_name=envelope.sender_name or "", addr_spec=envelope.sender_address)
    )
    message["To"] = envelope.to
    if envelope.reply_to:
        message["Reply-To"] = envelope.reply_to
    message["Subject"] = rendered.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = envelope.message_id
    # Automated mail: out-of-office replies should not answer it.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    # After the parts exist: making the message multipart moves Content-* headers into them.
    message["Content-Language"] = rendered.language
    return message


class SmtpMailer:
    """Opens a connection per send: SMTP servers drop idle connections, and a send is rare
    next to the cost of a TLS handshake only at volumes this outbox is not built for."""

    def __init__(self, settings: Settings) -> None:
        if not settings.smtp_host:
            raise ValueError("LAUREL_SMTP_HOST is not set")
        self.host = settings.smtp_host
        self.port = settings.smtp_port
        self.security = settings.smtp_security
        self.username = settings.smtp_username
        self.password = settings.smtp_password
        self.timeout = settings.smtp_timeout_seconds
        self.context = ssl.create_default_context(cafile=settings.smtp_ca_file)

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self.context
            )
        client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            client.starttls(context=self.context)
        return client

    def send(self, message: EmailMessage) -> None:
        try:
            with self._connect() as client:
                if self.username:
                    client.login(self.username, self.password or "")
                refused = client.send_message(message)
            if refused:
                raise PermanentMailError(f"recipients refused: {refused}")
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            error = f"recipients refused: {exc.recipients}"
            if codes and all(400 <= code < 500 for code in codes):
                raise TransientMailError(error) from exc
            raise PermanentMailError(error) from exc
        except smtplib.SMTPConnectError as exc:
            # Refused at the greeting: the server is busy or restarting, whatever the code.
            raise TransientMailError(f"SMTP greeting {exc.smtp_code}: {exc.smtp_error!r}") from exc
        except smtplib.SMTPAuthenticationError as exc:
            # Wrong credentials are an operator's mistake: keep the mail until it is fixed.
            raise TransientMailError(f"SMTP authentication failed: {exc.smtp_code}") from exc
        except smtplib.SMTPResponseException as exc:
            error = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
            if 400 <= exc.smtp_code < 500:
                raise TransientMailError(error) from exc
            raise PermanentMailError(error) from exc
        except (smtplib.SMTPException, OSError) as exc:  # OSError covers timeouts
            raise TransientMailError(f"{type(exc).__name__}: {exc}") from exc
