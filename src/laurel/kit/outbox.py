"""The outbox pattern both outboxes share (emails, webhook messages): lease, settle, purge.

A row is written ``pending`` in the transaction of the change it reports. A sender *claims*
due rows (``pending -> sending``) with one guarded UPDATE under a lease: on PostgreSQL the
candidates are read ``FOR UPDATE SKIP LOCKED`` so concurrent senders never wait on each other,
and the UPDATE re-checks that each row is still due, so of two senders only one takes a row. A
sender that dies leaves its rows ``sending``; when the lease runs out they are due again. An
outcome is recorded with another guarded UPDATE (``status = 'sending'``), so a late or
duplicate report changes nothing.

The table needs ``id``, ``status``, ``attempts``, ``next_attempt_at``, ``lease_expires_at``,
``updated_at`` and (for the retention purge) ``purged_at``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, delete, or_, select, update
from sqlalchemy.orm import Session

from laurel.kit.clock import utcnow
from laurel.kit.observe import chunks

PENDING = "pending"
SENDING = "sending"


@dataclass(frozen=True, slots=True)
class Outbox:
    model: Any
    """The mapped class of the outbox table."""

    def due(self, now: datetime) -> ColumnElement[bool]:
        """Rows a sender may take now: pending and due, or sending with a lapsed lease."""
        m = self.model
        return or_(
            (m.status == PENDING) & or_(m.next_attempt_at.is_(None), m.next_attempt_at <= now),
            # A sender died mid-send: its lease ran out, the row is free again.
            (m.status == SENDING) & (m.lease_expires_at < now),
        )

    def candidates(
        self, session: Session, query: Any, *, limit: int, lock_of: Any = None
    ) -> list[Any]:
        """Rows of ``query`` (already filtered with :meth:`due`) in id order, up to ``limit``;
        on PostgreSQL locked ``SKIP LOCKED`` (``lock_of``: the outbox entity of a join)."""
        query = cast("Select[Any]", query).order_by(self.model.id).limit(limit)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=lock_of)
        return list(session.execute(query))

    def take(
        self, session: Session, ids: Sequence[uuid.UUID], *, now: datetime, lease_seconds: float
    ) -> set[uuid.UUID]:
        """Lease those of ``ids`` still due to the caller; answers the ids taken."""
        if not ids:
            return set()
        m = self.model
        return set(
            session.scalars(
                update(m)
                .where(m.id.in_(list(ids)), self.due(now))
                .values(
                    status=SENDING,
                    lease_expires_at=now + timedelta(seconds=lease_seconds),
                    attempts=m.attempts + 1,
                    updated_at=now,
                )
                .returning(m.id)
                .execution_options(synchronize_session=False)
            )
        )

    def settle(self, session: Session, row_id: uuid.UUID, **values: Any) -> bool:
        """Record an outcome if the row is still being sent; False when settled already."""
        m = self.model
        values = {"lease_expires_at": None, "updated_at": utcnow(), **values}
        moved = session.execute(
            update(m)
            .where(m.id == row_id, m.status == SENDING)
            .values(**values)
            .returning(m.id)
            .execution_options(synchronize_session=False)
        ).first()
        return moved is not None

    def next_due(self, session: Session) -> datetime | None:
        """When the next delayed retry becomes due (so a sender can sleep until then)."""
        m = self.model
        found: datetime | None = session.scalar(
            select(m.next_attempt_at)
            .where(m.status == PENDING, m.next_attempt_at.is_not(None))
            .order_by(m.next_attempt_at)
            .limit(1)
        )
        return found

    # ------------------------------------------------------------ retention

    def purge_bodies(
        self,
        session: Session,
        *,
        settled: Sequence[str],
        before: datetime,
        blank: dict[str, Any],
        now: datetime,
        limit: int,
    ) -> int:
        """Empty (``blank``) up to ``limit`` rows settled (``settled`` statuses) and last
        changed before ``before``; answers how many. Rows keep their log metadata."""
        m = self.model
        ids = list(
            session.scalars(
                select(m.id)
                .where(m.status.in_(list(settled)), m.updated_at < before, m.purged_at.is_(None))
                .order_by(m.id)
                .limit(limit)
            )
        )
        for part in chunks(ids):
            session.execute(
                update(m)
                .where(m.id.in_(part), m.status.in_(list(settled)))
                .values(purged_at=now, **blank)
                .execution_options(synchronize_session=False)
            )
        return len(ids)

    def expired(
        self, session: Session, *, settled: Sequence[str], before: datetime, limit: int
    ) -> list[uuid.UUID]:
        """Up to ``limit`` ids of rows settled and last changed before ``before``."""
        m = self.model
        return list(
            session.scalars(
                select(m.id)
                .where(m.status.in_(list(settled)), m.updated_at < before)
                .order_by(m.id)
                .limit(limit)
            )
        )

    def delete(self, session: Session, ids: Sequence[uuid.UUID], *, settled: Sequence[str]) -> int:
        m = self.model
        gone = 0
        for part in chunks(list(ids)):
            result = session.execute(
                delete(m)
                .where(m.id.in_(part), m.status.in_(list(settled)))
                .execution_options(synchronize_session=False)
            )
            gone += int(getattr(result, "rowcount", 0) or 0)
        return gone
