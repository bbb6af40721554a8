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
from typing import Any

from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

from laurel.audit.models import AuditEntry, AuditHead
from laurel.kit.canonical import canonical_json, sha256_hex
from laurel.kit.clock import utcnow
from laurel.kit.ids import uuid7

GENESIS = "0" * 64
_PENDING = "laurel.audit.pending"


@dataclass(frozen=True, slots=True)
class PendingEntry:
    organization_id: uuid.UUID
    actor: str
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any]
    created_at: datetime


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
    pending.append(
        PendingEntry(
            organization_id=organization_id,
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            # Round-trip through JSON now so the hash covers exactly what the column stores.
            details=json.loads(canonical_json(details or {})),
            created_at=utcnow(),
        )
    )


def mark(session: Session) -> int:
    """A position in the queued entries, to drop what a rolled-back savepoint had queued."""
    return len(session.info.get(_PENDING, []))


def rollback_to(session: Session, position: int) -> None:
    del session.info.get(_PENDING, [])[position:]


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
    body = canonical_json(
        {
            "organization_id": str(organization_id),
            "seq": seq,
            "actor": actor,
            "action": action,
            "target_type": target_type,
            "target_id": target_id,
            "details": details,
            "created_at": created_at.isoformat(timespec="microseconds"),
        }
    )
    return sha256_hex(prev_hash + body)


def _lock_head(session: Session, organization_id: uuid.UUID) -> AuditHead:
    head = session.scalars(
        select(AuditHead).where(AuditHead.organization_id == organization_id).with_for_update()
    ).one_or_none()
    if head is None:
        raise RuntimeError(f"organization {organization_id} has no audit chain head")
    return head


def _flush_pending(session: Session) -> None:
    pending: list[PendingEntry] = session.info.pop(_PENDING, [])
    if not pending:
        return
    # Any rows the entries describe must reach the database first (foreign keys, ordering).
    session.flush()
    by_org: dict[uuid.UUID, list[PendingEntry]] = {}
    for item in pending:
        by_org.setdefault(item.organization_id, []).append(item)
    # A fixed lock order across organizations: two transactions never wait on each other.
    for organization_id in sorted(by_org):
        head = _lock_head(session, organization_id)
        seq, prev = head.seq, head.hash
        rows = []
        for item in by_org[organization_id]:
            seq += 1
            digest = entry_hash(
                prev_hash=prev,
                organization_id=organization_id,
                seq=seq,
                actor=item.actor,
                action=item.action,
                target_type=item.target_type,
                target_id=item.target_id,
                details=item.details,
                created_at=item.created_at,
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
                    "details": item.details,
                    "created_at": item.created_at,
                    "prev_hash": prev,
                    "hash": digest,
                }
            )
            prev = digest
        session.execute(insert(AuditEntry), rows)
        head.seq, head.hash = seq, prev
    session.flush()


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


def _entries(
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


def verify_chain(session: Session, organization_id: uuid.UUID) -> VerifyResult:
    """Recompute the chain from genesis; report the first entry whose link does not hold."""
    prev = GENESIS
    expected_seq = 0
    for entry in _entries(session, organization_id):
        expected_seq += 1
        if entry.seq != expected_seq:
            return VerifyResult(
                organization_id,
                expected_seq - 1,
                False,
                expected_seq,
                f"entry {expected_seq} is missing (next found is {entry.seq})",
            )
        if entry.prev_hash != prev:
            return VerifyResult(
                organization_id,
                expected_seq - 1,
                False,
                entry.seq,
                "prev_hash does not match the previous entry's hash",
            )
        digest = entry_hash(
            prev_hash=prev,
            organization_id=organization_id,
            seq=entry.seq,
            actor=entry.actor,
            action=entry.action,
            target_type=entry.target_type,
            target_id=entry.target_id,
            details=entry.details,
            created_at=entry.created_at,
        )
        if digest != entry.hash:
            return VerifyResult(
                organization_id,
                expected_seq - 1,
                False,
                entry.seq,
                "content does not match its hash (the row was altered)",
            )
        prev = entry.hash
    head = session.get(AuditHead, organization_id)
    if head is not None and (head.seq != expected_seq or head.hash != prev):
        return VerifyResult(
            organization_id,
            expected_seq,
            False,
            expected_seq + 1,
            f"chain head records {head.seq} entries but {expected_seq} remain "
            "(entries were removed from the end)",
        )
    return VerifyResult(organization_id, expected_seq, True)


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
