from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit.clock import utcnow
from laurel.kit.orm import Base, TenantMixin


class RewardState(StrEnum):
    pending = "pending"
    held = "held"
    ready = "ready"
    issuing = "issuing"
    delivered = "delivered"
    redeemed = "redeemed"
    expired = "expired"
    cancelled = "cancelled"
    failed = "failed"


class Reward(TenantMixin, Base):
    __tablename__ = "rewards"
    __table_args__ = (
        # The dedupe guarantee: one reward per learner, course and program in a period.
        UniqueConstraint(
            "organization_id", "livemode", "program_id", "learner_id", "course_id", "dedupe_key"
        ),
        Index(None, "state", "next_attempt_at"),
        Index(None, "organization_id", "learner_id"),
        # One learner's rewards in a time window (the FCPA gate's sums): without it SQLite
        # read the organization's whole window through the overview index.
        Index(None, "organization_id", "livemode", "learner_id", "created_at"),
        Index(None, "organization_id", "event_id"),
        Index(None, "organization_id", "program_id", "created_at"),
        # The dashboard's reward lists by state, newest first (keyset on the id).
        Index(None, "organization_id", "livemode", "state", "id"),
        # The overview's and the chart's counts and spend, read from the index alone.
        Index(
            "ix_rewards_overview",
            "organization_id",
            "livemode",
            "created_at",
            "state",
            "currency",
            "amount_minor",
        ),
    )

    livemode: Mapped[bool] = mapped_column(default=True)
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id"))
    program_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("program_versions.id"))
    rule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reward_rules.id"))
    rule_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reward_rule_versions.id"))
    learner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learners.id"))
    course_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("courses.id"))
    """None for a points redemption (``laurel.points.marketplace``): no course earned it."""
    event_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("completion_events.id"))
    """None for a points redemption: a learner's purchase, not a completion."""
    dedupe_key: Mapped[str] = mapped_column(String(16))
    """"once", or the calendar year of the completion for yearly programs."""
    amount_minor: Mapped[int]
    """Amount in minor units of ``currency``."""
    currency: Mapped[str] = mapped_column(String(3))
    reward_kind: Mapped[str] = mapped_column(String(32))
    provider: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=RewardState.pending)
    hold_reasons: Mapped[list[Any]] = mapped_column(default=list)
    calculation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """How the amount was reached (rule value, factors, cap), for people who ask why."""
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    """While ``issuing``: after this moment the claim is abandoned and is reconciled."""
    provider_reference: Mapped[str | None] = mapped_column(String(200), default=None)
    last_error: Mapped[str | None] = mapped_column(String(1000), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    ready_at: Mapped[datetime | None] = mapped_column(default=None)
    issuing_at: Mapped[datetime | None] = mapped_column(default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    failed_at: Mapped[datetime | None] = mapped_column(default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(default=None)
    event_received_at: Mapped[datetime]
    """Copied from the event: the start of the event-to-delivery latency the metrics report."""
