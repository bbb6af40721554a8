"""Personal data outside ``learners`` (raw LMS payloads, outbox rows, form-request addresses),
sealed under the key of the learner it is about, or under the key ring when no learner is known.

A sealed value is text in a ``*_sealed`` column, in one of two forms:

- ``ls1:<learner id>:<base64(nonce ‖ AES-256-GCM ciphertext)>``: under the learner's data key
  (``learner_keys``, :mod:`laurel.learners.personal`), authenticated with the column's context
  and the learner's id. Erasing the learner destroys that key: the value can no longer be read,
  in the database or in any backup of it. ``laurel keys rotate`` re-wraps the data key, so
  these values need no rewriting.
- ``lk1:<key id>:…`` (:mod:`laurel.kit.crypto`): under the key ring, for rows no learner could
  be found for (a dead letter, an xAPI statement that named nobody Laurel knows, an operator
  email). ``laurel keys rotate`` re-encrypts them; retention deletes or empties them.

Sealing costs no query per value: the learners' keys come from the unit of work's cache
(:func:`personal.keys`), loaded once for every learner a batch names (the gates read the
same cache right after). A learner without a key (one made before keys existed, or one with
no personal field) gets one here, in one statement per batch.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, object_session

from laurel.kit import crypto
from laurel.kit.clock import utcnow
from laurel.kit.crypto import KeyRing
from laurel.learners import personal

PREFIX = "ls1:"


@dataclass(frozen=True, slots=True)
class Sealed:
    """A sealed column: where it is, what it authenticates with and how its clear form reads."""

    table: str
    column: str
    """The ``*_sealed`` Text column."""
    context: str
    clear: str
    """The column the value was kept in before it was sealed (emptied now; the archive shows
    the opened value under this name)."""
    kind: str
    """``json``, ``text`` or ``bytes``: how the opened text becomes a value."""


_SEALED: dict[tuple[str, str], Sealed] = {}


def register(table: str, column: str, *, clear: str, kind: str) -> Sealed:
    """Declare a sealed column; its ring-sealed values are re-encrypted by ``keys rotate``."""
    entry = Sealed(table, column, f"{table}.{clear}", clear, kind)
    _SEALED[(table, column)] = entry
    crypto.register(table, column, context=entry.context)
    return entry


def columns_of(table: str) -> list[Sealed]:
    return [entry for (name, _), entry in sorted(_SEALED.items()) if name == table]


def registered() -> list[Sealed]:
    return [entry for _, entry in sorted(_SEALED.items())]


COMPLETION_PAYLOAD = register("completion_events", "payload_sealed", clear="payload", kind="json")
XAPI_STATEMENT = register("xapi_statements", "statement_sealed", clear="statement", kind="json")
XAPI_ATTACHMENTS = register(
    "xapi_statements", "attachments_sealed", clear="attachments", kind="json"
)
CALIPER_EVENT = register("caliper_events", "event_sealed", clear="event", kind="json")
TAX_RECIPIENT = register(
    "tax_form_requests", "recipient_email_sealed", clear="recipient_email", kind="text"
)
OUTBOX_RECIPIENT = register("email_outbox", "recipient_sealed", clear="recipient", kind="text")
OUTBOX_CONTEXT = register("email_outbox", "context_sealed", clear="context", kind="json")
OUTBOX_SECRETS = register("email_outbox", "secrets_sealed", clear="secrets", kind="json")
DEAD_LETTER_BODY = register("dead_letters", "body_sealed", clear="body", kind="bytes")
IMPORT_VALUES = register("import_rejections", "values_sealed", clear="values", kind="json")


# ---------------------------------------------------------------- the two forms


def _aad(context: str, learner_id: uuid.UUID) -> bytes:
    return f"{context}\x00{learner_id}".encode()


def seal_with(key: AESGCM, learner_id: uuid.UUID, plain: str, context: str) -> str:
    nonce = os.urandom(12)
    sealed = key.encrypt(nonce, plain.encode(), _aad(context, learner_id))
    return f"{PREFIX}{learner_id.hex}:{base64.b64encode(nonce + sealed).decode()}"


def learner_of(token: str) -> uuid.UUID | None:
    """The learner whose key seals ``token`` (None: sealed under the ring)."""
    if not token.startswith(PREFIX):
        return None
    try:
        return uuid.UUID(token[len(PREFIX) : len(PREFIX) + 32])
    except ValueError:
        raise crypto.DecryptionError("a sealed value names no learner") from None


def open_with(key: AESGCM, token: str, context: str) -> str:
    learner_id = learner_of(token)
    assert learner_id is not None
    try:
        raw = base64.b64decode(token[len(PREFIX) + 33 :], validate=True)
        return key.decrypt(raw[:12], raw[12:], _aad(context, learner_id)).decode()
    except (InvalidTag, binascii.Error, ValueError):
        raise crypto.DecryptionError(f"a value sealed for {learner_id} does not open") from None


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def as_text(value: Any, kind: str) -> str:
    if kind == "json":
        return dumps(value)
    if kind == "bytes":
        return base64.b64encode(bytes(value)).decode()
    return str(value)


def from_text(text: str, kind: str) -> Any:
    if kind == "json":
        return json.loads(text)
    if kind == "bytes":
        return base64.b64decode(text)
    return text


# ---------------------------------------------------------------- in a unit of work


def _ensure_keys(
    session: Session, organization_id: uuid.UUID, ids: set[uuid.UUID], ring: KeyRing
) -> dict[uuid.UUID, AESGCM | None]:
    """The learners' keys, with one made for each learner that has none (one INSERT)."""
    found = personal.keys(session, ids, ring)
    missing = sorted(i for i in ids if found.get(i) is None)
    if not missing:
        return found
    now = utcnow()
    made = {i: personal.new_key(ring) for i in missing}
    table: Table = personal.key_table()
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    written = set(
        session.scalars(
            module.insert(table)
            .on_conflict_do_nothing(index_elements=["learner_id"])
            .returning(table.c.learner_id),
            [personal.key_row(organization_id, i, made[i][1], now) for i in missing],
        )
    )
    for learner_id in missing:
        if learner_id in written:
            personal.remember(session, learner_id, made[learner_id][0])
    lost = [i for i in missing if i not in written]
    if lost:
        # Another transaction gave them a key first: read it.
        rows = session.execute(
            select(table.c.learner_id, table.c.wrapped_key).where(table.c.learner_id.in_(lost))
        )
        for learner_id, wrapped in rows:
            personal.remember(session, learner_id, personal.unwrap(ring, wrapped))
    return found


def seal_many(
    session: Session,
    organization_id: uuid.UUID,
    entry: Sealed,
    items: Sequence[tuple[uuid.UUID | None, Any]],
) -> list[str | None]:
    """Seal each ``(learner id or None, value)`` of ``entry``'s kind; None stays None."""
    ring = crypto.ring_of(session)
    ids = {
        learner_id for learner_id, value in items if learner_id is not None and value is not None
    }
    found = _ensure_keys(session, organization_id, ids, ring) if ids else {}
    out: list[str | None] = []
    for learner_id, value in items:
        if value is None:
            out.append(None)
            continue
        plain = as_text(value, entry.kind)
        key = found.get(learner_id) if learner_id is not None else None
        if key is not None and learner_id is not None:
            out.append(seal_with(key, learner_id, plain, entry.context))
        else:
            out.append(ring.encrypt(plain, entry.context))
    return out


def seal(
    session: Session,
    organization_id: uuid.UUID,
    entry: Sealed,
    learner_id: uuid.UUID | None,
    value: Any,
) -> str | None:
    return seal_many(session, organization_id, entry, [(learner_id, value)])[0]


def open_many(
    session: Session, entry: Sealed, tokens: Iterable[str | None], ring: KeyRing | None = None
) -> list[Any]:
    """The values of ``entry``'s column in clear (None where empty or where the learner's key
    was destroyed); the learners' keys are loaded once for all of them."""
    items = list(tokens)
    owners = {who for t in items if t is not None and (who := learner_of(t)) is not None}
    found = personal.keys(session, owners, ring) if owners else {}
    out: list[Any] = []
    for token in items:
        if token is None:
            out.append(None)
            continue
        who = learner_of(token)
        if who is None:
            ring = ring or crypto.ring_of(session)
            out.append(from_text(ring.decrypt(token, entry.context), entry.kind))
            continue
        key = found.get(who)
        out.append(
            None if key is None else from_text(open_with(key, token, entry.context), entry.kind)
        )
    return out


def open_(session: Session, entry: Sealed, token: str | None) -> Any:
    return open_many(session, entry, [token])[0]


def readable(session: Session, entry: Sealed, token: str | None, clear: Any) -> Any:
    """The value of a row: opened from ``token``, or ``clear`` for a row written before
    sealing (migration 0023 seals those; this keeps a row read meanwhile whole)."""
    if token is None:
        return clear
    return open_(session, entry, token)


def value_of(row: Any, entry: Sealed) -> Any:
    """The opened value of a loaded ORM row's sealed column (read in its unit of work)."""
    session = object_session(row)
    if session is None:
        raise RuntimeError(f"{entry.table}.{entry.clear} is read inside a unit of work")
    return readable(session, entry, getattr(row, entry.column), getattr(row, entry.clear))
