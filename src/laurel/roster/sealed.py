"""Roster entries' personal fields (email, manager), sealed under the key ring, found by a
blind index of the email.

An HR roster is the organization's file, not a learner's: an entry names nobody Laurel knows
until it is matched, and retention prunes whole rosters. So the values are sealed under the
ring (``lk1:…``, :mod:`laurel.learners.sealing` registers them, ``laurel keys rotate``
re-encrypts them), not under a learner's data key.

Matching by email goes through ``email_index``: the very blind index a learner's email has
(:func:`laurel.learners.personal.indexes`, same context, lower-cased), so a learner's stored
``email_index`` and a roster entry's of the same address are equal under the same ring key.
Lookups try the index under every key of the ring; ``keys rotate`` recomputes the indexes
made under an older key (:func:`reindex`), as it does the learners'.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Table, select, update
from sqlalchemy.orm import InstrumentedAttribute, object_session

from laurel.kit import crypto
from laurel.kit.crypto import KeyRing
from laurel.learners import personal, sealing

if TYPE_CHECKING:
    from laurel.db import Database
    from laurel.roster.models import RosterEntry

EMAIL = sealing.register("roster_entries", "email_sealed", clear="email", kind="text")
MANAGER = sealing.register("roster_entries", "manager_sealed", clear="manager", kind="text")
INDEX = "email_index"
"""The blind index column; an access archive leaves it out (it means nothing to a reader)."""


def indexes(ring: KeyRing, email: str) -> list[str]:
    """The blind indexes ``email`` may be stored under (current key first), as a learner's."""
    return personal.indexes(ring, "email", email)


def columns(ring: KeyRing, email: str | None, manager: str | None) -> dict[str, str | None]:
    """The stored form of an entry's email and manager."""
    return {
        EMAIL.column: None if email is None else ring.encrypt(email, EMAIL.context),
        INDEX: None if email is None else indexes(ring, email)[0],
        MANAGER.column: None if manager is None else ring.encrypt(manager, MANAGER.context),
    }


def where_email(
    index: ColumnElement[str | None] | InstrumentedAttribute[str | None],
    ring: KeyRing,
    emails: Iterable[str],
) -> ColumnElement[bool]:
    """A condition on roster entries' ``email_index`` matching any of these emails, whatever
    their case, under any key of the ring."""
    return index.in_(sorted({i for email in emails for i in indexes(ring, email)}))


def reveal(entry: RosterEntry, sealed: sealing.Sealed) -> str | None:
    """An entry's email or manager in clear (read inside its unit of work)."""
    token: str | None = getattr(entry, sealed.column)
    if token is None:
        return None
    session = object_session(entry)
    if session is None:
        raise RuntimeError(f"{sealed.table}.{sealed.clear} is read inside a unit of work")
    return crypto.ring_of(session).decrypt(token, sealed.context)


def reindex(database: Database, ring: KeyRing, batch: int) -> Iterator[crypto.RotationBatch]:
    """Recompute entries' email indexes made under an older key (``laurel keys rotate``).

    One transaction per batch; an entry changed meanwhile (its index is no longer the one
    read) is left to the next pass."""
    from laurel.roster.models import RosterEntry  # noqa: PLC0415 - the models import this module

    table: Table = RosterEntry.__table__  # type: ignore[assignment]
    index, sealed_email = table.c[INDEX], table.c[EMAIL.column]
    stale = index.is_not(None) & ~index.startswith(f"{ring.current.id}:", autoescape=True)
    entry = crypto.EncryptedColumn("roster_entries", INDEX, "roster_entries:blind-index")
    after: Any = None
    while True:
        with database.session() as session:
            query = select(table.c.id, sealed_email, index).where(stale)
            if after is not None:
                query = query.where(table.c.id > after)
            rows = session.execute(query.order_by(table.c.id).limit(batch)).all()
            if not rows:
                return
            rewritten = skipped = 0
            for row_id, token, old in rows:
                fresh = (
                    None if token is None else indexes(ring, ring.decrypt(token, EMAIL.context))[0]
                )
                done: Any = session.execute(
                    update(table).where(table.c.id == row_id, index == old).values({INDEX: fresh})
                )
                if done.rowcount:
                    rewritten += 1
                else:
                    skipped += 1
            after = rows[-1][0]
        yield crypto.RotationBatch(entry, rewritten, skipped)


crypto.register_reindexer("roster_entries", INDEX, reindex)
