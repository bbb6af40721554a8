"""Audit search and export for auditors: filter by actor, action, target and time, then page
through the result or stream all of it as CSV or JSON lines.

Streams read the chain in keyset batches over ``(organization_id, seq)`` (the chain's unique
index), so memory stays flat however long the log is. A JSON lines export carries every field
the hash covers: an outside party can recompute the chain from it (docs/audit.md).
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from laurel.audit.models import AuditEntry


class ExportFormat(StrEnum):
    csv = "csv"
    jsonl = "jsonl"


MEDIA_TYPES = {ExportFormat.csv: "text/csv", ExportFormat.jsonl: "application/x-ndjson"}
COLUMNS = (
    "organization_id",
    "seq",
    "created_at",
    "actor",
    "action",
    "target_type",
    "target_id",
    "details",
    "prev_hash",
    "hash",
)


@dataclass(frozen=True, slots=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    """An exact action, or a prefix ending in ``*`` (``rewards:*``, ``rewards:reward:*``)."""
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    """Inclusive."""
    until: datetime | None = None
    """Exclusive."""

    def apply(self, query: Select[Any]) -> Select[Any]:
        if self.actor is not None:
            query = query.where(AuditEntry.actor == self.actor)
        if self.action is not None:
            if self.action.endswith("*"):
                query = query.where(AuditEntry.action.startswith(self.action[:-1], autoescape=True))
            else:
                query = query.where(AuditEntry.action == self.action)
        if self.target_type is not None:
            query = query.where(AuditEntry.target_type == self.target_type)
        if self.target_id is not None:
            query = query.where(AuditEntry.target_id == self.target_id)
        if self.since is not None:
            query = query.where(AuditEntry.created_at >= self.since)
        if self.until is not None:
            query = query.where(AuditEntry.created_at < self.until)
        return query

    def described(self) -> dict[str, str]:
        """The filter as audit details (what an export contained)."""
        return {
            name: value.isoformat() if isinstance(value, datetime) else value
            for name in ("actor", "action", "target_type", "target_id", "since", "until")
            if (value := getattr(self, name)) is not None
        }


def search(
    session: Session,
    organization_id: uuid.UUID,
    where: AuditFilter,
    *,
    limit: int = 100,
    before_seq: int | None = None,
) -> list[AuditEntry]:
    """A page of matching entries, newest first; the next page starts before the last seq."""
    query = where.apply(select(AuditEntry).where(AuditEntry.organization_id == organization_id))
    if before_seq is not None:
        query = query.where(AuditEntry.seq < before_seq)
    return list(session.scalars(query.order_by(AuditEntry.seq.desc()).limit(limit)))


def stream(
    session: Session, organization_id: uuid.UUID, where: AuditFilter, *, batch: int = 1000
) -> Iterator[AuditEntry]:
    """Every matching entry, oldest first, read in batches."""
    after = 0
    while True:
        query = where.apply(
            select(AuditEntry).where(
                AuditEntry.organization_id == organization_id, AuditEntry.seq > after
            )
        )
        rows = list(session.scalars(query.order_by(AuditEntry.seq).limit(batch)))
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].seq
        session.expunge_all()


def as_record(entry: AuditEntry) -> dict[str, Any]:
    return {
        "organization_id": str(entry.organization_id),
        "seq": entry.seq,
        "created_at": entry.created_at.isoformat(timespec="microseconds"),
        "actor": entry.actor,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "details": entry.details,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def jsonl_lines(entries: Iterator[AuditEntry]) -> Iterator[str]:
    for entry in entries:
        yield json.dumps(as_record(entry), ensure_ascii=False, separators=(",", ":")) + "\n"


def csv_lines(entries: Iterator[AuditEntry]) -> Iterator[str]:
    """CSV with a header; ``details`` is a JSON object in its cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for entry in entries:
        record = as_record(entry)
        record["details"] = json.dumps(record["details"], ensure_ascii=False, sort_keys=True)
        writer.writerow([_cell(record[c]) for c in COLUMNS])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def _cell(value: object) -> object:
    """Spreadsheets run a cell that starts with = + - @ as a formula: quote it as text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def lines(entries: Iterator[AuditEntry], fmt: ExportFormat) -> Iterator[str]:
    return jsonl_lines(entries) if fmt is ExportFormat.jsonl else csv_lines(entries)
