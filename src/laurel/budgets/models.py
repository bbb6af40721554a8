from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit.clock import utcnow
from laurel.kit.orm import Base, TenantMixin


class ReservationState(StrEnum):
    reserved = "reserved"
    spent = "spent"
    released = "released"


class Budget(TenantMixin, Base):
    __tablename__ = "budgets"
    __table_args__ = (
        CheckConstraint("reserved_minor >= 0 AND spent_minor >= 0", name="non_negative"),
    )

    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id"), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    limit_minor: Mapped[int]
    """Total the program may commit, in minor units of ``currency``."""
    reserved_minor: Mapped[int] = mapped_column(default=0)
    """Held for rewards that passed every gate but are not delivered yet."""
    spent_minor: Mapped[int] = mapped_column(default=0)
    """Delivered."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class BudgetReservation(TenantMixin, Base):
    __tablename__ = "budget_reservations"

    budget_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("budgets.id"))
    reward_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rewards.id"), unique=True)
    amount_minor: Mapped[int]
    """Minor units of the budget's currency."""
    state: Mapped[str] = mapped_column(String(16), default=ReservationState.reserved)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
