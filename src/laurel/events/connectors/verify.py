"""Credential checks a connector can accept: the ways LMS products prove who is sending.

Every comparison is constant-time and runs over all active secrets, so neither the timing nor
the answer tells which secret was close. A check only says what the request *presents*; the
intake decides whether any active secret matches it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING

from laurel.events.connectors import strict_json

if TYPE_CHECKING:
    from laurel.events.connectors.base import Incoming


@dataclass(frozen=True, slots=True)
class Check:
    """Base: ``presented`` returns what the request carries for this check, or None."""

    @property
    def label(self) -> str:
        """How a sender presents it, for error messages and the connector listing."""
        raise NotImplementedError

    def presented(self, incoming: Incoming) -> str | None:
        raise NotImplementedError

    def matches(self, presented: str, secret: str, incoming: Incoming) -> bool:
        return hmac.compare_digest(presented.encode(), secret.encode())

    def secret_fields(self) -> tuple[str, str]:
        """(headers, query) names that carry credentials: never kept on a dead letter."""
        return ("", "")


@dataclass(frozen=True, slots=True)
class Bearer(Check):
    @property
    def label(self) -> str:
        return "Authorization: Bearer <secret>"

    def presented(self, incoming: Incoming) -> str | None:
        scheme, _, value = incoming.headers.get("authorization", "").partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else None

    def secret_fields(self) -> tuple[str, str]:
        return ("authorization", "")


@dataclass(frozen=True, slots=True)
class HeaderToken(Check):
    header: str = "x-laurel-token"

    @property
    def label(self) -> str:
        return f"{self.header}: <secret>"

    def presented(self, incoming: Incoming) -> str | None:
        return incoming.headers.get(self.header) or None

    def secret_fields(self) -> tuple[str, str]:
        return (self.header, "")


@dataclass(frozen=True, slots=True)
class QueryToken(Check):
    parameter: str = "token"

    @property
    def label(self) -> str:
        return f"?{self.parameter}=<secret> in the URL"

    def presented(self, incoming: Incoming) -> str | None:
        return incoming.query.get(self.parameter) or None

    def secret_fields(self) -> tuple[str, str]:
        return ("", self.parameter)


@dataclass(frozen=True, slots=True)
class BodyToken(Check):
    """A secret the source puts in its JSON body (Moodle's local_webhooks ``token``)."""

    key: str = "token"

    @property
    def label(self) -> str:
        return f'"{self.key}": "<secret>" in the JSON body'

    def presented(self, incoming: Incoming) -> str | None:
        try:
            body = strict_json.lenient(incoming.body)
        except (ValueError, UnicodeDecodeError):
            return None
        value = body.get(self.key) if isinstance(body, dict) else None
        return value if isinstance(value, str) and value else None


@dataclass(frozen=True, slots=True)
class Basic(Check):
    """HTTP Basic auth: the secret is the password, the user name is free (a label)."""

    @property
    def label(self) -> str:
        return "Authorization: Basic, any user name, the secret as password"

    def presented(self, incoming: Incoming) -> str | None:
        scheme, _, value = incoming.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        _, sep, password = decoded.partition(":")
        return password if sep and password else None

    def secret_fields(self) -> tuple[str, str]:
        return ("authorization", "")


def _signatures(body: bytes, secret: str, secret_is_base64: bool) -> list[bytes]:
    key = secret.encode()
    if secret_is_base64:
        try:
            key = base64.b64decode(secret, validate=True)
        except binascii.Error:
            key = secret.encode()
    return [hmac.new(key, body, hashlib.sha256).digest()]


@dataclass(frozen=True, slots=True)
class Hmac(Check):
    """HMAC-SHA256 of the raw body in a header, hex or base64, with an optional ``sha256=``."""

    header: str = "x-laurel-signature"
    secret_is_base64: bool = False
    """Cornerstone-style secrets are Base64 of the key bytes."""

    @property
    def label(self) -> str:
        return f"{self.header}: HMAC-SHA256 of the body (hex or base64)"

    def presented(self, incoming: Incoming) -> str | None:
        value = incoming.headers.get(self.header, "").strip()
        if value.lower().startswith("sha256="):
            value = value[len("sha256=") :]
        return value or None

    def matches(self, presented: str, secret: str, incoming: Incoming) -> bool:
        expected = _signatures(incoming.body, secret, self.secret_is_base64)[0]
        candidates: list[bytes] = []
        for decode in (_from_hex, _from_base64):
            got = decode(presented)
            if got is not None:
                candidates.append(got)
        ok = False
        for got in candidates:
            ok |= hmac.compare_digest(got, expected)
        return ok

    def secret_fields(self) -> tuple[str, str]:
        return (self.header, "")


def _from_hex(value: str) -> bytes | None:
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


def _from_base64(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def sign(body: bytes, secret: str) -> str:
    """The ``X-Laurel-Signature`` value a sender computes: ``sha256=<hex>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
