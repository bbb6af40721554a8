"""Append-only, hash-chained audit trail, one chain per organization.

Services call :func:`record` while they work; the entries are chained and inserted just before
the unit of work commits, in the same transaction as the change they describe. Taking the chain
head's row lock at that last moment keeps the serialised part of a transaction as short as it
can be: concurrent writers of one organization queue only for the commit itself.

Each entry's hash is SHA-256 over the previous entry's hash and the entry's own canonical
content, so altering, removing or reordering any row breaks every link after it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from json.encoder import encode_basestring as _string
from typing import Any, Protocol

from sqlalchemy import Table, bindparam, event, select, update
from sqlalchemy.orm import Session

from laurel.audit.models import AuditEntry, AuditHead
from laurel.kit.actor import Actor
from laurel.kit.canonical import canonical_json, sha256_hex, strict_canonical_json
from laurel.kit.clock import utcnow
from laurel.kit.ids import uuid7
from laurel.kit.sql import EncodedJSON, insert_many, write_rows

GENESIS = "0" * 64
# Core, not the ORM's bulk insert: thousands of entries per batch of events.
_TABLE: Table = AuditEntry.__table__  # type: ignore[assignment]
_PENDING = "laurel.audit.pending"


@dataclass(frozen=True, slots=True)
class PendingEntry:
    organization_id: uuid.UUID
    actor: str
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any]
    details_json: str
    """``details`` in canonical form: what the hash covers."""
    created_at: datetime


def _canonical(details: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The details as the column will store them, and their canonical text.

    Details made only of JSON types are kept as given; anything else (a UUID, a datetime) is
    turned into its string form now, so the hash covers exactly what the column stores.
    """
    try:
        return details, strict_canonical_json(details)
    except TypeError:
        pass  # a UUID, a datetime…: stored as its string form, below
    foreign: list[object] = []

    def default(value: object) -> str:
        foreign.append(value)
        return str(value)

    text = json.dumps(
        details, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=default
    )
    return (json.loads(text) if foreign else details), text


def record(
    session: Session,
    *,
    organization_id: uuid.UUID,
    actor: str,
    action: str,
    target_type: str,
    target_id: uuid.UUID | str,
    details: dict[str, Any] | None = None,
) -> None:
    """Queue an entry (``action`` is ``domain:subject:verb``); it is written at commit."""
    pending: list[PendingEntry] = session.info.setdefault(_PENDING, [])
    stored, text = _canonical(details or {})
    pending.append(
        PendingEntry(
            organization_id=organization_id,
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            details=stored,
            details_json=text,
            created_at=utcnow(),
        )
    )


def mark(session: Session) -> int:
    """Where the queue of entries stands, for a savepoint that may roll back."""
    return len(session.info.get(_PENDING, []))


def rollback_to(session: Session, position: int) -> None:
    """Drop entries queued since ``mark``: their savepoint rolled back."""
    pending: list[PendingEntry] = session.info.get(_PENDING, [])
    del pending[position:]


def sensitive_read(
    session: Session,
    actor: Actor,
    what: str,
    target_type: str,
    target_id: uuid.UUID | str,
    details: dict[str, Any] | None = None,
) -> None:
    """Record that ``actor`` saw something sensitive (a TIN, a gift code, an export).

    ``what`` is ``domain:subject`` (``tax:tin``, ``delivery:gift_code``); the entry's action is
    ``domain:subject:read``. It is written when the unit of work commits, so call it in a
    writing unit of work before the answer is sent: a read that cannot be recorded is not made.
    Details say what was seen, never the value itself.
    """
    if what.count(":") != 1:
        raise ValueError(f"sensitive read {what!r}: name it as domain:subject")
    record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action=f"{what}:read",
        target_type=target_type,
        target_id=target_id,
        details={"sensitive": True, **(details or {})},
    )


def entry_hash(
    *,
    prev_hash: str,
    organization_id: uuid.UUID,
    seq: int,
    actor: str,
    action: str,
    target_type: str,
    target_id: str,
    details: dict[str, Any],
    created_at: datetime,
) -> str:
    """SHA-256 over the previous hash and the canonical JSON of the entry's content."""
    return chain_hash(
        prev_hash,
        _body(
            organization_id,
            seq,
            actor,
            action,
            target_type,
            target_id,
            canonical_json(details),
            created_at,
        ),
    )


def chain_hash(prev_hash: str, body: str) -> str:
    return sha256_hex(prev_hash + body)


def _body(
    organization_id: uuid.UUID | str,
    seq: int,
    actor: str,
    action: str,
    target_type: str,
    target_id: str,
    details_json: str,
    created_at: datetime,
) -> str:
    """``canonical_json`` of the entry's content, assembled around details already in canonical
    form (keys in sorted order) so they are not encoded twice."""
    return (
        f'{{"action":{_string(action)},"actor":{_string(actor)},'
        f'"created_at":"{created_at.isoformat(timespec="microseconds")}",'
        f'"details":{details_json},"organization_id":"{organization_id}",'
        f'"seq":{seq},"target_id":{_string(target_id)},"target_type":{_string(target_type)}}}'
    )


_HEAD: Table = AuditHead.__table__  # type: ignore[assignment]


# Built once: these run in every transaction that changes anything.
@cache
def _head_lock_sql() -> Any:
    # Built on first use, once every table's column types are resolved.
    return (
        select(_HEAD.c.seq, _HEAD.c.hash)
        .where(_HEAD.c.organization_id == bindparam("_org"))
        .with_for_update()
    )


@cache
def _move_head() -> Any:
    # Built on first use, once every table's column types are resolved.
    return (
        update(_HEAD)
        .where(_HEAD.c.organization_id == bindparam("_org"))
        .values(seq=bindparam("_seq"), hash=bindparam("_hash"))
    )


@cache
def _advance_head() -> Any:
    # Built on first use, once every table's column types are resolved.
    return (
        update(_HEAD)
        .where(
            _HEAD.c.organization_id == bindparam("_org"),
            _HEAD.c.seq == bindparam("_was_seq"),
            _HEAD.c.hash == bindparam("_was_hash"),
        )
        .values(seq=bindparam("_seq"), hash=bindparam("_hash"))
    )


def lock_head(session: Session, organization_id: uuid.UUID) -> tuple[int, str]:
    head = session.execute(_head_lock_sql(), {"_org": organization_id}).first()
    if head is None:
        raise RuntimeError(f"organization {organization_id} has no audit chain head")
    return head[0], head[1]


_HINTS: dict[tuple[str, uuid.UUID], tuple[int, str]] = {}
"""The chain head (seq, hash) this process last wrote, per database and organization.

Only a guess: :func:`_append` checks it in the UPDATE that moves the head, so a stale one (a
transaction rolled back, another process appended) costs a retry, never a wrong link."""


def _flush_pending(session: Session) -> None:
    pending: list[PendingEntry] = session.info.pop(_PENDING, [])
    if not pending:
        return
    # Any rows the entries describe must reach the database first (foreign keys, ordering).
    session.flush()
    by_org: dict[uuid.UUID, list[PendingEntry]] = {}
    for item in pending:
        by_org.setdefault(item.organization_id, []).append(item)
    # SQLite stores the canonical text as it is; PostgreSQL's JSONB parses the details.
    bind = session.get_bind()
    encoded = bind.dialect.name == "sqlite"
    where = str(bind.engine.url)
    # A fixed lock order across organizations: two transactions never wait on each other.
    for organization_id in sorted(by_org):
        _append(session, where, organization_id, by_org[organization_id], encoded=encoded)


def _append(
    session: Session,
    where: str,
    organization_id: uuid.UUID,
    items: list[PendingEntry],
    *,
    encoded: bool,
) -> None:
    """Chain ``items`` after the organization's head and move the head past them.

    The head is taken in one statement when this process wrote it last: the UPDATE that moves
    it names the (seq, hash) the entries were chained on, so it matches, and takes the row
    lock, only if nobody appended since. Otherwise (or on a first append) the head is read
    under its row lock and the entries are chained again.
    """
    hint = _HINTS.get((where, organization_id))
    rows: list[dict[str, Any]] | None = None
    if hint is not None:
        rows, head = _chained(organization_id, hint, items, encoded=encoded)
        params = {"_was_seq": hint[0], "_was_hash": hint[1]}
        moved = write_rows(
            session,
            _advance_head(),
            {"_org": organization_id, "_seq": head[0], "_hash": head[1]} | params,
        )
        if moved.rowcount != 1:
            rows = None
    if rows is None:
        rows, head = _chained(
            organization_id, lock_head(session, organization_id), items, encoded=encoded
        )
        write_rows(
            session, _move_head(), {"_org": organization_id, "_seq": head[0], "_hash": head[1]}
        )
    insert_many(session, _TABLE, rows)
    # Rolled back later, this hint is stale and the next append reads the head instead.
    _HINTS[(where, organization_id)] = head


def _chained(
    organization_id: uuid.UUID,
    head: tuple[int, str],
    items: list[PendingEntry],
    *,
    encoded: bool,
) -> tuple[list[dict[str, Any]], tuple[int, str]]:
    """The entry rows chained after ``head``, and the head after them."""
    seq, prev = head
    organization = str(organization_id)
    rows = []
    for item in items:
        seq += 1
        digest = chain_hash(
            prev,
            _body(
                organization,
                seq,
                item.actor,
                item.action,
                item.target_type,
                item.target_id,
                item.details_json,
                item.created_at,
            ),
        )
        rows.append(
            {
                "id": uuid7(),
                "organization_id": organization_id,
                "seq": seq,
                "actor": item.actor,
                "action": item.action,
                "target_type": item.target_type,
                "target_id": item.target_id,
                "details": EncodedJSON(item.details_json) if encoded else item.details,
                "created_at": item.created_at,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    return rows, (seq, prev)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    _flush_pending(session)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def start_chain(session: Session, organization_id: uuid.UUID) -> None:
    session.add(AuditHead(organization_id=organization_id, seq=0, hash=GENESIS))


@dataclass(frozen=True, slots=True)
class VerifyResult:
    organization_id: uuid.UUID
    entries: int
    ok: bool
    broken_seq: int | None = None
    reason: str | None = None


def entries(
    session: Session, organization_id: uuid.UUID, batch: int = 1000
) -> Iterator[AuditEntry]:
    """The whole chain in order, read in keyset batches so memory stays flat."""
    after = 0
    while True:
        rows = list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.organization_id == organization_id, AuditEntry.seq > after)
                .order_by(AuditEntry.seq)
                .limit(batch)
            )
        )
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].seq
        session.expunge_all()


class ChainEntry(Protocol):
    """What verification reads of an entry: a stored row or a line of an exported log."""

    @property
    def seq(self) -> int: ...
    @property
    def actor(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def target_type(self) -> str: ...
    @property
    def target_id(self) -> str: ...
    @property
    def details(self) -> dict[str, Any]: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def prev_hash(self) -> str: ...
    @property
    def hash(self) -> str: ...


@dataclass(slots=True)
class ChainCheck:
    """The running state of a verification: how far the chain holds, and where it broke."""

    organization_id: uuid.UUID
    entries: int = 0
    last_hash: str = GENESIS
    broken_seq: int | None = None
    reason: str | None = None
    hashes: dict[int, str] | None = None
    """When given, the hash of each verified entry whose seq is a key is filled in."""

    def feed(self, entry: ChainEntry) -> bool:
        """Check the next entry; False (with ``broken_seq`` and ``reason``) when it breaks."""
        expected_seq = self.entries + 1
        if entry.seq != expected_seq:
            return self._broken(
                expected_seq, f"entry {expected_seq} is missing (next found is {entry.seq})"
            )
        if entry.prev_hash != self.last_hash:
            return self._broken(entry.seq, "prev_hash does not match the previous entry's hash")
        digest = entry_hash(
            prev_hash=self.last_hash,
            organization_id=self.organization_id,
            seq=entry.seq,
            actor=entry.actor,
            action=entry.action,
            target_type=entry.target_type,
            target_id=entry.target_id,
            details=entry.details,
            created_at=entry.created_at,
        )
        if digest != entry.hash:
            return self._broken(entry.seq, "content does not match its hash (the row was altered)")
        self.entries = expected_seq
        self.last_hash = digest
        if self.hashes is not None and entry.seq in self.hashes:
            self.hashes[entry.seq] = digest
        return True

    def _broken(self, seq: int, reason: str) -> bool:
        self.broken_seq = seq
        self.reason = reason
        return False

    def result(self) -> VerifyResult:
        return VerifyResult(
            self.organization_id,
            self.entries,
            self.broken_seq is None,
            self.broken_seq,
            self.reason,
        )


def verify_chain(session: Session, organization_id: uuid.UUID) -> VerifyResult:
    """Recompute the chain from genesis; report the first entry whose link does not hold."""
    check = ChainCheck(organization_id)
    for entry in entries(session, organization_id):
        if not check.feed(entry):
            return check.result()
    head = session.get(AuditHead, organization_id)
    if head is not None and (head.seq != check.entries or head.hash != check.last_hash):
        return VerifyResult(
            organization_id,
            check.entries,
            False,
            check.entries + 1,
            f"chain head records {head.seq} entries but {check.entries} remain "
            "(entries were removed from the end)",
        )
    return check.result()


def list_entries(
    session: Session,
    organization_id: uuid.UUID,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.organization_id == organization_id)
    if target_type is not None:
        query = query.where(AuditEntry.target_type == target_type)
    if target_id is not None:
        query = query.where(AuditEntry.target_id == target_id)
    return list(session.scalars(query.order_by(AuditEntry.seq.desc()).limit(limit)))
