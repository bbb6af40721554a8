"""Learners' personal fields (email, name, manager), sealed under a key of their own.

Each learner has a random 256-bit data key, stored in ``learner_keys`` wrapped by the key ring
(``laurel keys rotate`` re-wraps it like any registered column). The fields are sealed with
that key (AES-256-GCM, authenticated with the field and the learner's id, so a value copied
to another row or column no longer opens): ``ld1:<base64(nonce ‖ ciphertext)>``. Erasing a
learner deletes the key and the blind indexes; the ciphertext left behind, in the database
and in every backup of it, can no longer be read.

Lookups and change detection use keyed blind indexes (``KeyRing.blind_indexes``) stored
beside the sealed value: the intake compares the index of what an event says with the stored
one and only seals when it differs, so an unchanged learner costs one HMAC per field and no
decryption.

Reading is transparent: ``learner.email`` opens the value with the learner's key. Keys are
unwrapped once per unit of work and kept on the session; the first read loads the keys of
every learner the session holds in one statement, so a page of learners costs one query.
"""

from __future__ import annotations

import base64
import binascii
import os
import uuid
from collections.abc import Iterable, Iterator
from functools import cache
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import ColumnElement, Table, bindparam, event, insert, or_, select, update
from sqlalchemy.orm import Session, object_session

from laurel.kit import crypto
from laurel.kit.clock import utcnow
from laurel.kit.crypto import KeyRing
from laurel.kit.ids import uuid7
from laurel.kit.observe import chunks
from laurel.kit.sql import read_rows
from laurel.learners.models import DATA_KEY, Learner, LearnerKey

if TYPE_CHECKING:
    from laurel.db import Database

FIELDS = ("email", "name", "manager")
PREFIX = "ld1:"
_PENDING = "_laurel_pending"
_NEW_KEYS = "laurel.learner_keys.new"
_KEYS = "laurel.learner_keys"
"""``Session.info`` entry: learner id → unwrapped key (None: the learner has none, erased)."""


def sealed(field: str) -> str:
    return f"{field}_sealed"


def index(field: str) -> str:
    return f"{field}_index"


def _normal(field: str, value: str) -> str:
    # Emails match whatever their case: an LMS and an HR roster rarely agree on it.
    return value.strip().lower() if field == "email" else value


def _context(field: str) -> str:
    return f"learners:{field}"


def indexes(ring: KeyRing, field: str, value: str) -> list[str]:
    """The blind indexes ``value`` may be stored under (current key first)."""
    return ring.blind_indexes(_normal(field, value), _context(field))


def _aad(field: str, learner_id: uuid.UUID) -> bytes:
    return f"learners.{field}\x00{learner_id}".encode()


def seal(key: AESGCM, learner_id: uuid.UUID, field: str, value: str) -> str:
    nonce = os.urandom(12)
    sealed_value = key.encrypt(nonce, value.encode(), _aad(field, learner_id))
    return PREFIX + base64.b64encode(nonce + sealed_value).decode()


def open_(key: AESGCM, learner_id: uuid.UUID, field: str, token: str) -> str:
    if not token.startswith(PREFIX):
        raise crypto.DecryptionError(f"learner {learner_id}: {field} is not sealed")
    try:
        raw = base64.b64decode(token[len(PREFIX) :], validate=True)
        return key.decrypt(raw[:12], raw[12:], _aad(field, learner_id)).decode()
    except (InvalidTag, binascii.Error, ValueError):
        raise crypto.DecryptionError(f"learner {learner_id}: {field} does not open") from None


def columns(
    ring: KeyRing, key: AESGCM, learner_id: uuid.UUID, field: str, value: str | None
) -> dict[str, str | None]:
    """The column values storing ``value`` (None clears the field)."""
    if value is None:
        return {sealed(field): None, index(field): None}
    return {
        sealed(field): seal(key, learner_id, field, value),
        index(field): indexes(ring, field, value)[0],
    }


def new_key(ring: KeyRing) -> tuple[AESGCM, str]:
    """A fresh data key and its wrapped form, for a ``learner_keys`` row."""
    secret = os.urandom(32)
    return AESGCM(secret), ring.encrypt(base64.b64encode(secret).decode(), DATA_KEY.context)


def unwrap(ring: KeyRing, wrapped: str) -> AESGCM:
    return AESGCM(base64.b64decode(ring.decrypt(wrapped, DATA_KEY.context)))


def key_row(
    organization_id: uuid.UUID, learner_id: uuid.UUID, wrapped: str, now: Any
) -> dict[str, Any]:
    return {
        "id": uuid7(),
        "organization_id": organization_id,
        "learner_id": learner_id,
        "wrapped_key": wrapped,
        "created_at": now,
    }


def key_table() -> Table:
    table: Table = LearnerKey.__table__  # type: ignore[assignment]
    return table


def _cache(session: Session) -> dict[uuid.UUID, AESGCM | None]:
    cache: dict[uuid.UUID, AESGCM | None] = session.info.setdefault(_KEYS, {})
    return cache


def remember(session: Session, learner_id: uuid.UUID, key: AESGCM | None) -> None:
    """Keep a key just made (or None once destroyed) for the rest of the unit of work."""
    _cache(session)[learner_id] = key


def keys(
    session: Session, ids: Iterable[uuid.UUID], ring: KeyRing | None = None
) -> dict[uuid.UUID, AESGCM | None]:
    """The data keys of these learners, unwrapped once per unit of work (None: no key), with
    ``ring`` or the session's."""
    cache = _cache(session)
    missing = sorted({i for i in ids if i not in cache})
    if missing:
        ring = ring or crypto.ring_of(session)
        for part in chunks(missing):
            for learner_id, wrapped in read_rows(session, _keys_sql(), {"_ids": part}):
                cache[learner_id] = unwrap(ring, wrapped)
        for learner_id in missing:
            cache.setdefault(learner_id, None)
    return cache


@cache
def _keys_sql() -> Any:
    # Built once with parameters: intake asks this for every group of single events, and
    # building the statement each time cost more than running it.
    table: Table = LearnerKey.__table__  # type: ignore[assignment]
    return select(table.c.learner_id, table.c.wrapped_key).where(
        table.c.learner_id.in_(bindparam("_ids", expanding=True))
    )


def _key_of(session: Session, learner: Learner) -> AESGCM | None:
    cache = _cache(session)
    if learner.id in cache:
        return cache[learner.id]
    # The first read of a unit of work loads the keys of every learner it holds at once:
    # listing learners costs one more query, not one per learner.
    held = {
        obj.id
        for obj in session.identity_map.values()
        if isinstance(obj, Learner) and obj.id not in cache
    }
    return keys(session, held | {learner.id})[learner.id]


def reveal(learner: Learner, field: str) -> str | None:
    """The learner's ``field`` in clear (None when empty, or when the key was destroyed)."""
    pending = learner.__dict__.get(_PENDING)
    if pending is not None and field in pending:
        return pending[field]  # type: ignore[no-any-return]
    token: str | None = learner.__dict__.get(sealed(field))
    if token is None:
        return None
    plain: dict[str, tuple[str, str | None]] = learner.__dict__.setdefault("_laurel_plain", {})
    known = plain.get(field)
    if known is not None and known[0] == token:
        return known[1]
    key: AESGCM | None = learner.__dict__.get("_laurel_key")
    if key is None:
        session = object_session(learner)
        if session is None:
            raise RuntimeError("a learner's personal fields are read inside a unit of work")
        key = _key_of(session, learner)
        if key is None:
            plain[field] = (token, None)
            return None
        learner.__dict__["_laurel_key"] = key
    value = open_(key, learner.id, field, token)
    plain[field] = (token, value)
    return value


def write(learner: Learner, field: str, value: str | None) -> None:
    """Seal ``value`` into the learner's row (making the learner a key if it has none).

    A learner built in Python and not yet in a session (``Learner(name=…)``) keeps the values
    until it is flushed: they are sealed then, with the session's ring."""
    session = object_session(learner)
    if session is None:
        learner.__dict__.setdefault(_PENDING, {})[field] = value
        return
    ring = crypto.ring_of(session)
    key = _key_of(session, learner)
    if key is None and value is not None:
        key, wrapped = new_key(ring)
        session.execute(
            insert(key_table()).values(
                key_row(learner.organization_id, learner.id, wrapped, utcnow())
            )
        )
        remember(session, learner.id, key)
    learner.__dict__.pop("_laurel_key", None)
    stored = (
        columns(ring, key, learner.id, field, value)
        if key is not None
        else {sealed(field): None, index(field): None}
    )
    for column, token in stored.items():
        setattr(learner, column, token)


@event.listens_for(Session, "before_flush")
def _seal_pending(session: Session, _context: Any, _instances: Any) -> None:
    """Learners added with personal fields set in Python get their key and sealed values now
    (the key row is written right after theirs, in ``_store_new_keys``)."""
    for obj in list(session.new):
        if not isinstance(obj, Learner) or _PENDING not in obj.__dict__:
            continue
        pending: dict[str, str | None] = obj.__dict__.pop(_PENDING)
        if obj.__dict__.get("id") is None:
            obj.id = uuid7()
        ring = crypto.ring_of(session)
        key, wrapped = new_key(ring)
        for field, value in pending.items():
            for column, token in columns(ring, key, obj.id, field, value).items():
                setattr(obj, column, token)
        session.info.setdefault(_NEW_KEYS, []).append(
            key_row(obj.organization_id, obj.id, wrapped, utcnow())
        )
        remember(session, obj.id, key)


@event.listens_for(Session, "after_flush")
def _store_new_keys(session: Session, _context: Any) -> None:
    rows = session.info.pop(_NEW_KEYS, None)
    if rows:
        session.connection().execute(insert(key_table()), rows)


def where_email(ring: KeyRing, email: str) -> ColumnElement[bool]:
    """A condition on ``Learner`` matching this email (under any key of the ring)."""
    return Learner.email_index.in_(indexes(ring, "email", email))


def open_rows(
    session: Session, rows: Iterable[tuple[uuid.UUID, dict[str, str | None]]]
) -> Iterator[dict[str, str | None]]:
    """Open sealed fields read as plain rows: ``(learner id, {field: token})`` in, ``{field:
    value}`` out, in order (keys loaded once for all of them)."""
    items = list(rows)
    found = keys(session, {learner_id for learner_id, _ in items})
    for learner_id, tokens in items:
        key = found.get(learner_id)
        yield {
            field: open_(key, learner_id, field, token)
            if token is not None and key is not None
            else None
            for field, token in tokens.items()
        }


def plain_row(session: Session, row: dict[str, Any]) -> dict[str, Any]:
    """A learners row read as a plain dict, with the sealed fields opened and the blind
    indexes left out (for access archives)."""
    learner_id = row["id"] if isinstance(row["id"], uuid.UUID) else uuid.UUID(str(row["id"]))
    tokens = {field: row.get(sealed(field)) for field in FIELDS}
    opened = next(open_rows(session, [(learner_id, tokens)]))
    plain = {k: v for k, v in row.items() if k not in _STORAGE}
    plain.update(opened)
    return plain


_STORAGE = frozenset(name for field in FIELDS for name in (sealed(field), index(field)))


def forget(session: Session, organization_id: uuid.UUID, learner_id: uuid.UUID) -> int:
    """Destroy the learner's data key and blind indexes: what was sealed can no longer be read.

    Answers the number of keys deleted (0 if it was gone already)."""
    table: Table = LearnerKey.__table__  # type: ignore[assignment]
    done: Any = session.execute(
        table.delete().where(
            table.c.organization_id == organization_id, table.c.learner_id == learner_id
        )
    )
    learners: Table = Learner.__table__  # type: ignore[assignment]
    session.execute(
        update(learners)
        .where(learners.c.organization_id == organization_id, learners.c.id == learner_id)
        .values({index(field): None for field in FIELDS})
    )
    remember(session, learner_id, None)
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Learner) and obj.id == learner_id:
            obj.__dict__.pop("_laurel_plain", None)
            obj.__dict__.pop("_laurel_key", None)
    return int(done.rowcount or 0)


def reindex(database: Database, ring: KeyRing, batch: int) -> Iterator[crypto.RotationBatch]:
    """Recompute learners' blind indexes made under an older key (``laurel keys rotate``).

    One transaction per batch; a row changed meanwhile (its index is no longer the one read)
    is left to the next pass, exactly like re-encryption."""
    table: Table = Learner.__table__  # type: ignore[assignment]
    current = f"{ring.current.id}:"
    stale = or_(
        *(
            table.c[index(f)].is_not(None) & ~table.c[index(f)].startswith(current, autoescape=True)
            for f in FIELDS
        )
    )
    entry = crypto.EncryptedColumn("learners", "*_index", "learners:blind-index")
    after: uuid.UUID | None = None
    while True:
        with database.session() as session:
            query = select(
                table.c.id,
                *(table.c[sealed(f)] for f in FIELDS),
                *(table.c[index(f)] for f in FIELDS),
            ).where(stale)
            if after is not None:
                query = query.where(table.c.id > after)
            rows = session.execute(query.order_by(table.c.id).limit(batch)).all()
            if not rows:
                return
            found = keys(session, {row[0] for row in rows}, ring)
            rewritten = skipped = 0
            for row in rows:
                learner_id, tokens, old = row[0], row[1:4], row[4:7]
                key = found.get(learner_id)
                values: dict[str, str | None] = {}
                for field, token in zip(FIELDS, tokens, strict=True):
                    if token is not None and key is not None:
                        plain = open_(key, learner_id, field, token)
                        values[index(field)] = indexes(ring, field, plain)[0]
                    else:
                        values[index(field)] = None
                guard = [
                    table.c[index(f)].is_(None) if value is None else table.c[index(f)] == value
                    for f, value in zip(FIELDS, old, strict=True)
                ]
                done: Any = session.execute(
                    update(table).where(table.c.id == learner_id, *guard).values(values)
                )
                if done.rowcount:
                    rewritten += 1
                else:
                    skipped += 1
            after = rows[-1][0]
        yield crypto.RotationBatch(entry, rewritten, skipped)


crypto.register_reindexer("learners", "*_index", reindex)
