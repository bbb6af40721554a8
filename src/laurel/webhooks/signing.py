"""Standard Webhooks signatures (symmetric, ``v1``).

The secret is ``whsec_`` followed by base64 of random bytes; the key is those bytes. The signed
content is ``{webhook-id}.{webhook-timestamp}.{body}`` and the ``webhook-signature`` header is
``v1,`` followed by base64 of its HMAC-SHA256. See docs/webhooks-outgoing.md for receivers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"
SECRET_BYTES = 32
"""The specification asks for 24 to 64 random bytes."""


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def key_of(secret: str) -> bytes:
    if not secret.startswith(PREFIX):
        raise ValueError("a Standard Webhooks secret starts with whsec_")
    return base64.b64decode(secret[len(PREFIX) :], validate=True)


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key_of(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }
