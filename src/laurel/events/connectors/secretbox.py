"""Encryption of connector secrets at rest.

HMAC verification needs the secret itself, so a one-way hash (as for API keys) cannot be used:
the secret is encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under a key derived from
``LAUREL_SECRET_KEY``. Whoever holds the database alone cannot read the secrets; whoever loses
``LAUREL_SECRET_KEY`` must add new secrets (old ones no longer decrypt and stop matching).
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken

_CONTEXT = b"laurel/connector-secrets/v1\x00"


class SecretBox:
    def __init__(self, secret_key: str) -> None:
        # A context label keeps this key distinct from anything else derived from the same
        # setting; SHA-256 turns a setting of any length into the 32 bytes Fernet wants.
        digest = hashlib.sha256(_CONTEXT + secret_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def seal(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def open(self, sealed: str) -> str | None:
        """The plain secret, or None when it was sealed under another ``LAUREL_SECRET_KEY``."""
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            return None
