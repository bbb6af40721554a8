"""The key ring: versioned keys from configuration, a key id in every ciphertext, rotation.

``LAUREL_ENCRYPTION_KEYS`` lists keys as ``id:base64-of-32-bytes`` separated by commas; the
first encrypts, all of them decrypt. Without it, one key (id ``k0``) is derived from
``LAUREL_SECRET_KEY`` (and stays in a configured ring, last, to decrypt older values).
A ciphertext is text: ``lk1:<key id>:<base64(nonce ‖ AES-256-GCM ciphertext)>``,
authenticated together with a *context* (the table and column it belongs to), so a value
copied into another column no longer decrypts.

Rotating: put a new key first in the list (keep the old ones), restart, run
``laurel keys rotate``. It re-encrypts every registered column in small batches, each its own
transaction, with a guarded UPDATE (a row changed meanwhile is left to the next pass); readers
decrypt either key all along, so nothing stops. Remove an old key once rotate reports no value
under it.

Other domains register the columns they encrypt::

    crypto.register("tax_profiles", "tin_encrypted", context="tax:tin")

and encrypt / decrypt with the ring the application holds (``app.state.key_ring`` or
:func:`ring_from_settings`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from laurel.kit.errors import Invalid

PREFIX = "lk1"
_DERIVE = b"laurel/key-ring/v1\x00"


class KeyRingError(Invalid):
    code = "key_ring_invalid"


class DecryptionError(ValueError):
    """The value was changed, belongs to another column, or its key is not in the ring."""


@dataclass(frozen=True, slots=True)
class Key:
    id: str
    secret: bytes


class KeyRing:
    def __init__(self, keys: list[Key]) -> None:
        if not keys:
            raise KeyRingError("the key ring needs at least one key")
        ids = [k.id for k in keys]
        if len(set(ids)) != len(ids):
            raise KeyRingError(f"duplicate key ids in the ring: {ids}")
        self.keys = {k.id: k for k in keys}
        self.current = keys[0]
        self._aead = {k.id: AESGCM(k.secret) for k in keys}
        self._index_keys: dict[tuple[str, str], bytes] = {}

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        keys = []
        for number, part in enumerate(p.strip() for p in text.split(",") if p.strip()):
            key_id, sep, encoded = part.partition(":")
            if not sep or not key_id.isalnum():
                raise KeyRingError(f"key {number + 1}: write it as id:base64 (id letters/digits)")
            try:
                secret = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise KeyRingError(f"key {key_id!r}: not base64") from None
            if len(secret) != 32:
                raise KeyRingError(f"key {key_id!r}: must be 32 bytes (it is {len(secret)})")
            keys.append(Key(key_id, secret))
        return cls(keys)

    @classmethod
    def derived(cls, secret_key: str) -> KeyRing:
        return cls([Key("k0", hashlib.sha256(_DERIVE + secret_key.encode()).digest())])

    def encrypt(self, plain: str, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead[self.current.id].encrypt(nonce, plain.encode(), context.encode())
        return f"{PREFIX}:{self.current.id}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, context: str) -> str:
        key_id = key_id_of(token)
        aead = self._aead.get(key_id or "")
        if aead is None:
            raise DecryptionError(f"key {key_id!r} is not in the key ring")
        try:
            raw = base64.b64decode(token.split(":", 2)[2], validate=True)
            return aead.decrypt(raw[:12], raw[12:], context.encode()).decode()
        except (InvalidTag, binascii.Error, ValueError, IndexError):
            raise DecryptionError("the value does not decrypt in this context") from None

    def blind_index(self, value: str, context: str) -> str:
        """A keyed hash for equality lookups on an encrypted value (HMAC-SHA256, hex)."""
        return self._blind_index(self.current.id, value, context)

    def blind_indexes(self, value: str, context: str) -> list[str]:
        """The value's blind index under every key of the ring, as ``<key id>:<hex>``, the
        current key's first.

        Lookups match any of them, so rows indexed before a rotation are still found while
        ``laurel keys rotate`` re-indexes them (the key id tells which rows it must visit).
        """
        return [f"{key_id}:{self._blind_index(key_id, value, context)}" for key_id in self.keys]

    def _blind_index(self, key_id: str, value: str, context: str) -> str:
        # The per-context key is derived once: the intake indexes every personal field it sees.
        key = self._index_keys.get((key_id, context))
        if key is None:
            secret = self.keys[key_id].secret
            key = hmac.new(secret, b"blind-index\x00" + context.encode(), "sha256").digest()
            self._index_keys[(key_id, context)] = key
        return hmac.new(key, value.encode(), "sha256").hexdigest()


RING = "laurel.key_ring"
"""``Session.info`` entry holding the ring (or a function answering it): services that
encrypt find it on the session they were given (:func:`ring_of`)."""


def ring_of(session: Session) -> KeyRing:
    """The key ring of the database this session belongs to."""
    source = session.info.get(RING)
    if isinstance(source, KeyRing):
        return source
    if callable(source):
        ring: KeyRing = source()
        return ring
    from laurel.config import get_settings  # noqa: PLC0415 - sessions made outside Database

    return ring_from_settings(get_settings())


def key_id_of(token: str) -> str | None:
    parts = token.split(":", 2)
    return parts[1] if len(parts) == 3 and parts[0] == PREFIX else None


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def ring_from_settings(settings: Any) -> KeyRing:
    """The ring ``LAUREL_ENCRYPTION_KEYS`` describes, or the one derived from the secret key.

    The derived key (id ``k0``) stays in a configured ring, last, unless a listed key has that
    id: what was encrypted before keys were configured still decrypts, and rotation moves it.
    """
    derived = KeyRing.derived(settings.secret_key).current
    configured = getattr(settings, "encryption_keys", None)
    if configured is None or not configured.get_secret_value().strip():
        return KeyRing([derived])
    ring = KeyRing.parse(configured.get_secret_value())
    if derived.id in ring.keys:
        return ring
    return KeyRing([*ring.keys.values(), derived])


@dataclass(frozen=True, slots=True)
class EncryptedColumn:
    table: str
    column: str
    context: str


_REGISTRY: dict[tuple[str, str], EncryptedColumn] = {}


def register(table: str, column: str, *, context: str | None = None) -> EncryptedColumn:
    """Declare an encrypted column, so rotation re-encrypts it (idempotent)."""
    entry = EncryptedColumn(table, column, context or f"{table}.{column}")
    _REGISTRY[(table, column)] = entry
    return entry


def registered() -> list[EncryptedColumn]:
    return sorted(_REGISTRY.values(), key=lambda c: (c.table, c.column))


def context_of(table: str, column: str) -> str | None:
    entry = _REGISTRY.get((table, column))
    return entry.context if entry else None


@dataclass(frozen=True, slots=True)
class RotationBatch:
    column: EncryptedColumn
    rewritten: int
    skipped: int
    """Rows changed by someone else between the read and the write: the next pass takes them."""


Reindexer = Callable[[Any, KeyRing, int], Iterator[RotationBatch]]
"""``(database, ring, batch)``: recompute a domain's blind indexes under the current key."""
_REINDEXERS: dict[tuple[str, str], Reindexer] = {}


def register_reindexer(table: str, column: str, reindexer: Reindexer) -> EncryptedColumn:
    """Declare blind indexes that rotation recomputes after re-encrypting the columns (a
    blind index is keyed with the ring's current key, so a new key means new indexes)."""
    _REINDEXERS[(table, column)] = reindexer
    return EncryptedColumn(table, column, f"{table}.{column}")


def reindexed() -> list[EncryptedColumn]:
    return [EncryptedColumn(t, c, f"{t}.{c}") for t, c in sorted(_REINDEXERS)]


def rotate_batches(database: Any, ring: KeyRing, *, batch: int = 500) -> Iterator[RotationBatch]:
    """Re-encrypt every registered column under the current key, one transaction per batch,
    then recompute registered blind indexes."""
    yield from _reencrypt(database, ring, batch=batch)
    for _, reindexer in sorted(_REINDEXERS.items()):
        yield from reindexer(database, ring, batch)


def _reencrypt(database: Any, ring: KeyRing, *, batch: int) -> Iterator[RotationBatch]:
    from laurel.kit.orm import Base  # noqa: PLC0415 - the schema is loaded by then

    current = f"{PREFIX}:{ring.current.id}:"
    for entry in registered():
        table: Table = Base.metadata.tables[entry.table]
        key = next(iter(table.primary_key.columns))
        column = table.c[entry.column]
        after: Any = None
        while True:
            with database.session() as session:
                # Only ring-encrypted values: a column may also hold values sealed under a
                # learner's own key (``ls1:``), which rotation re-wraps instead.
                query = select(key, column).where(
                    column.startswith(f"{PREFIX}:", autoescape=True),
                    ~column.startswith(current, autoescape=True),
                )
                if after is not None:
                    query = query.where(key > after)
                rows = session.execute(query.order_by(key).limit(batch)).all()
                if not rows:
                    break
                rewritten = skipped = 0
                for row_id, token in rows:
                    fresh = ring.encrypt(ring.decrypt(token, entry.context), entry.context)
                    done = session.execute(
                        update(table)
                        .where(key == row_id, column == token)
                        .values({entry.column: fresh})
                    )
                    if done.rowcount:
                        rewritten += 1
                    else:
                        skipped += 1
                after = rows[-1][0]
            yield RotationBatch(entry, rewritten, skipped)
