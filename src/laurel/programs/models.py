"""Programs and rules are identities with immutable versions.

A change writes a new version with an ``effective_from`` no earlier than the moment it is made;
a completion is decided by the versions in force when it occurred, so no change ever reaches
back. Rewards keep the ids of the versions that decided them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit.orm import Base, TenantMixin


class DedupePeriod(StrEnum):
    once = "once"
    calendar_year = "calendar_year"


class DeliveryModel(StrEnum):
    instant = "instant"
    batch = "batch"
    link = "link"
    points = "points"


class RewardKind(StrEnum):
    gift_card = "gift_card"
    prepaid_card = "prepaid_card"
    points = "points"
    charity = "charity"
    learner_choice = "learner_choice"


class Program(TenantMixin, Base):
    __tablename__ = "programs"
    __table_args__ = (UniqueConstraint("organization_id", "key"),)

    key: Mapped[str] = mapped_column(String(64))
    """Stable slug, unique in the organization."""


class ProgramVersion(TenantMixin, Base):
    __tablename__ = "program_versions"
    __table_args__ = (
        UniqueConstraint("program_id", "version"),
        Index(None, "organization_id", "program_id", "effective_from"),
    )

    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id"))
    version: Mapped[int]
    effective_from: Mapped[datetime]
    name: Mapped[str] = mapped_column(String(200))
    template: Mapped[str | None] = mapped_column(String(64), default=None)
    active: Mapped[bool] = mapped_column(default=True)
    currency: Mapped[str] = mapped_column(String(3))
    dedupe_period: Mapped[str] = mapped_column(String(32), default=DedupePeriod.once)
    delivery: Mapped[str] = mapped_column(String(32), default=DeliveryModel.instant)
    reward_kind: Mapped[str] = mapped_column(String(32), default=RewardKind.gift_card)
    provider: Mapped[str] = mapped_column(String(64), default="sandbox")
    approval_threshold_minor: Mapped[int | None] = mapped_column(default=None)
    """Rewards above this many minor units of ``currency`` wait for approval; None: never."""
    approval_expiry_days: Mapped[int] = mapped_column(default=14, server_default="14")
    """Days a request for a decision (threshold or FCPA) waits before it expires undecided:
    the reward is then cancelled (``approval_expired``)."""
    holdout_bps: Mapped[int] = mapped_column(default=0, server_default="0")
    """Share of eligible learners held out as a never-paid control group (basis points)."""
    eligibility: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """classifications, departments, countries (lists; empty = all), starts_at, ends_at."""
    segment_factors: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Four-factor learner-segment multiplier per classification, decimal strings 1.0-3.5."""
    created_by: Mapped[str] = mapped_column(String(200), default="")


class RewardRule(TenantMixin, Base):
    __tablename__ = "reward_rules"

    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id"))


class RewardRuleVersion(TenantMixin, Base):
    __tablename__ = "reward_rule_versions"
    __table_args__ = (
        UniqueConstraint("rule_id", "version"),
        Index(None, "organization_id", "program_id", "effective_from"),
    )

    rule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reward_rules.id"))
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id"))
    version: Mapped[int]
    effective_from: Mapped[datetime]
    name: Mapped[str] = mapped_column(String(200), default="")
    priority: Mapped[int] = mapped_column(default=100)
    """Lower runs first; the first matching rule of a program decides."""
    enabled: Mapped[bool] = mapped_column(default=True)
    conditions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """{"kind": "fixed", "amount_minor": int} or {"kind": "four_factor", ...}; see service."""
    created_by: Mapped[str] = mapped_column(String(200), default="")


class HoldoutAssignment(TenantMixin, Base):
    """A learner's group in a program's comparison, fixed the first time it was decided."""

    __tablename__ = "holdout_assignments"
    __table_args__ = (UniqueConstraint("program_id", "learner_id"),)

    livemode: Mapped[bool] = mapped_column(default=True)
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id"))
    learner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learners.id"))
    control: Mapped[bool]
    share_bps: Mapped[int]
    """The program's share when the learner was assigned."""
    assigned_at: Mapped[datetime]
