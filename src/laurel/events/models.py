from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit.orm import Base, TenantMixin


class Outcome(StrEnum):
    enrolled = "enrolled"
    in_progress = "in_progress"
    completed = "completed"
    passed = "passed"
    failed = "failed"


PAYABLE_OUTCOMES = frozenset({Outcome.completed, Outcome.passed})


class CompletionEvent(TenantMixin, Base):
    __tablename__ = "completion_events"
    __table_args__ = (
        UniqueConstraint("organization_id", "livemode", "source", "source_event_id"),
        Index(None, "organization_id", "learner_id", "course_id"),
        Index(None, "organization_id", "received_at"),
        # Completions counted and charted by the overview, without reading the payloads.
        Index(
            "ix_completion_events_overview", "organization_id", "livemode", "outcome", "occurred_at"
        ),
    )

    livemode: Mapped[bool] = mapped_column(default=True)
    source: Mapped[str] = mapped_column(String(64))
    source_event_id: Mapped[str] = mapped_column(String(300))
    body_hash: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the canonical request body: tells a replay from a conflicting reuse of an id."""
    learner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learners.id"))
    course_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("courses.id"))
    outcome: Mapped[str] = mapped_column(String(32))
    score: Mapped[float | None] = mapped_column(default=None)
    """Scaled score in [0, 1]: a measurement, never money."""
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Empty: the event as received is in ``payload_sealed`` (kept so SQLite need not rebuild
    this table, whose triggers feed learning pairs)."""
    payload_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    """The event as received, sealed under the learner's key (:mod:`laurel.learners.sealing`)."""
    decisions: Mapped[list[Any]] = mapped_column(default=list)
    """Per program: why this event did or did not produce a reward."""
