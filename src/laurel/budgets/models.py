from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit.clock import utcnow
from laurel.kit.orm import Base, TenantMixin


class ReservationState(StrEnum):
    reserved = "reserved"
    spent = "spent"
    released = "released"


class Period(StrEnum):
    total = "total"
    monthly = "monthly"
    quarterly = "quarterly"
    yearly = "yearly"


class Budget(TenantMixin, Base):
    """A limit on what rewards may commit: for one program or all, one department or all, in
    total or per calendar month, quarter or year. Every budget that applies to a reward must
    cover it. The money used is kept per window (:class:`BudgetWindow`)."""

    __tablename__ = "budgets"
    __table_args__ = (UniqueConstraint("organization_id", "scope_key"),)

    name: Mapped[str] = mapped_column(String(200), default="")
    program_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("programs.id"), default=None)
    """None: every program."""
    department: Mapped[str | None] = mapped_column(String(200), default=None)
    """None: every department (the learner's department at gate time)."""
    period: Mapped[str] = mapped_column(String(16), default=Period.total)
    scope_key: Mapped[str] = mapped_column(String(300))
    """program/department/period: one budget per scope."""
    currency: Mapped[str] = mapped_column(String(3))
    limit_minor: Mapped[int]
    """What each window may commit, in minor units of ``currency``."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class BudgetWindow(TenantMixin, Base):
    """The money a budget has committed in one period (the only window of a total budget)."""

    __tablename__ = "budget_windows"
    __table_args__ = (
        UniqueConstraint("budget_id", "starts_on"),
        CheckConstraint("reserved_minor >= 0 AND spent_minor >= 0", name="non_negative"),
    )

    budget_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("budgets.id"))
    starts_on: Mapped[date]
    ends_on: Mapped[date | None] = mapped_column(default=None)
    """Exclusive; None for a total budget."""
    reserved_minor: Mapped[int] = mapped_column(default=0)
    """Held for rewards that passed every gate but are not delivered yet."""
    spent_minor: Mapped[int] = mapped_column(default=0)
    """Delivered."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class BudgetReservation(TenantMixin, Base):
    __tablename__ = "budget_reservations"
    __table_args__ = (
        UniqueConstraint("reward_id", "budget_id"),
        # A window's burn-down and a budget's reservations by state are read by these, and
        # SQLite checks the foreign keys of a deleted window or budget through them.
        Index(None, "window_id"),
        Index(None, "budget_id", "state"),
    )

    budget_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("budgets.id"))
    window_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("budget_windows.id"))
    reward_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rewards.id"))
    amount_minor: Mapped[int]
    """Minor units of the budget's currency."""
    state: Mapped[str] = mapped_column(String(16), default=ReservationState.reserved)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
