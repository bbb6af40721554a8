"""Link tokens: unguessable, derived from a stored random salt and the deployment's secret key.

Only ``sha256(token)`` is stored and looked up, so a copy of the database alone opens no link
and forges none. Because the token is ``HMAC(secret, salt)``, the API can show a link's URL
again (``link_url``) without the token ever being written down. The form token that guards the
redeem POST is another HMAC, bound to one link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid


def new_salt() -> str:
    return secrets.token_hex(32)


def _mac(secret: str, purpose: bytes, message: bytes) -> str:
    digest = hmac.new(secret.encode(), purpose + message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_for(secret: str, salt: str) -> str:
    return _mac(secret, b"laurel-reward-link\x00", bytes.fromhex(salt))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def form_token(secret: str, link_id: uuid.UUID) -> str:
    return _mac(secret, b"laurel-reward-link-form\x00", link_id.bytes)


def form_token_ok(secret: str, link_id: uuid.UUID, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(form_token(secret, link_id), given)
