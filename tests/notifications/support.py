"""A real SMTP server on loopback (aiosmtpd) that keeps what it accepted, and can refuse.

It plays the organization's mail relay: the outbox, the worker and smtplib are all real.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Received:
    message: EmailMessage
    mail_from: str
    rcpt_tos: list[str]
    at: dt.datetime

    @property
    def text(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None
        content: str = part.get_content()
        return content

    @property
    def html(self) -> str:
        part = self.message.get_body(("html",))
        assert part is not None
        content: str = part.get_content()
        return content


@dataclass
class Mailbox:
    """The handler: stores each accepted message; ``refuse`` answers the next DATA commands
    with these replies instead (``451 ...`` for 'try later', ``550 ...`` for 'never')."""

    received: list[Received] = field(default_factory=list)
    refuse: list[str] = field(default_factory=list)
    refused: int = 0
    logins: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._lock:
            if self.refuse:
                self.refused += 1
                return self.refuse.pop(0)
            raw = envelope.original_content or envelope.content
            assert isinstance(raw, bytes)
            parsed = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            self.received.append(
                Received(
                    parsed,
                    str(envelope.mail_from),
                    list(envelope.rcpt_tos),
                    dt.datetime.now(dt.UTC),
                )
            )
        return "250 2.0.0 accepted"

    def by_message_id(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.received:
            key = str(item.message["Message-ID"])
            counts[key] = counts.get(key, 0) + 1
        return counts


class _Authenticator:
    def __init__(self, mailbox: Mailbox, username: str, password: str) -> None:
        self.mailbox, self.username, self.password = mailbox, username, password

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if (
            isinstance(data, LoginPassword)
            and data.login.decode() == self.username
            and data.password.decode() == self.password
        ):
            self.mailbox.logins.append(self.username)
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


@dataclass
class SmtpServer:
    mailbox: Mailbox
    port: int
    ca_file: Path | None = None


def certificate(directory: Path) -> tuple[Path, Path]:
    """A throw-away CA-less self-signed certificate for 127.0.0.1 (it is its own CA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "laurel-test-smtp")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp.pem", directory / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@contextmanager
def smtp_server(
    *,
    tls: str = "none",
    directory: Path | None = None,
    credentials: tuple[str, str] | None = None,
    smtputf8: bool = True,
) -> Iterator[SmtpServer]:
    """``tls``: ``none``, ``starttls`` (required before MAIL) or ``implicit`` (TLS on connect)."""
    mailbox = Mailbox()
    port = free_port()
    kwargs: dict[str, Any] = {"enable_SMTPUTF8": smtputf8}
    ca_file = None
    if tls != "none":
        assert directory is not None
        ca_file, key_file = certificate(directory)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(ca_file, key_file)
        if tls == "starttls":
            kwargs |= {"tls_context": context, "require_starttls": True}
        else:
            kwargs |= {"ssl_context": context}
    if credentials is not None:
        kwargs |= {
            "authenticator": _Authenticator(mailbox, *credentials),
            # With implicit TLS aiosmtpd does not know the socket is encrypted, so it can only
            # offer AUTH there (the test checks the login happened), not require it.
            "auth_required": tls != "implicit",
            "auth_require_tls": tls == "starttls",
        }
    controller = Controller(mailbox, hostname=HOST, port=port, **kwargs)
    controller.start()
    try:
        yield SmtpServer(mailbox, port, ca_file)
    finally:
        controller.stop()
