"""Encryption of gift codes and PINs at rest, and the keyed hash that finds duplicates.

A gift code is money to whoever reads it, so it is sealed with Fernet under a key derived from
``LAUREL_SECRET_KEY`` with this module's own context label (distinct from connector secrets).
Duplicates are found with an HMAC-SHA256 of the normalised code under a second derived key:
equal codes give equal hashes, and the hash says nothing to someone without the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

from cryptography.fernet import Fernet, InvalidToken

_SEAL_CONTEXT = b"laurel/inventory-codes/v1\x00"
_HASH_CONTEXT = b"laurel/inventory-code-hash/v1\x00"


class CodeBox:
    def __init__(self, secret_key: str) -> None:
        seal_key = hashlib.sha256(_SEAL_CONTEXT + secret_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(seal_key))
        self._hash_key = hashlib.sha256(_HASH_CONTEXT + secret_key.encode()).digest()

    def seal(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def open(self, sealed: str) -> str:
        """The plain value; a code sealed under another key is an operator error, not data."""
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("inventory code sealed under another LAUREL_SECRET_KEY") from exc

    def code_hash(self, organization_id: uuid.UUID, code: str) -> str:
        """Keyed hash of a code within one organization (case and spacing ignored)."""
        normal = "".join(code.split()).upper()
        message = organization_id.bytes + b"\x00" + normal.encode()
        return hmac.new(self._hash_key, message, hashlib.sha256).hexdigest()
