from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit.orm import Base, ExternalMixin


class Classification(StrEnum):
    employee = "employee"
    contractor = "contractor"
    channel_partner = "channel_partner"
    customer = "customer"


class Learner(ExternalMixin, Base):
    __tablename__ = "learners"
    __table_args__ = (
        UniqueConstraint("organization_id", "livemode", "external_id"),
        # A department's learners (department leaderboards, a manager's team).
        Index(None, "organization_id", "livemode", "department"),
    )

    email: Mapped[str | None] = mapped_column(String(320), default=None)
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    classification: Mapped[str] = mapped_column(String(32), default=Classification.employee)
    department: Mapped[str | None] = mapped_column(String(200), default=None)
    manager: Mapped[str | None] = mapped_column(String(200), default=None)
    """The manager's name or id, as the LMS or the HR roster gives it."""
    country: Mapped[str | None] = mapped_column(String(2), default=None)
    """ISO 3166-1 alpha-2."""
    region: Mapped[str | None] = mapped_column(String(3), default=None)
    """ISO 3166-2 subdivision within ``country`` (``CA`` for California), for jurisdiction."""
    locale: Mapped[str | None] = mapped_column(String(35), default=None)
    """BCP 47 language tag, e.g. es-MX."""
    screening_blocked_at: Mapped[datetime | None] = mapped_column(default=None)
    """Set when a compliance reviewer confirms a sanctions match; later rewards are held."""
    pseudonymised_at: Mapped[datetime | None] = mapped_column(default=None)
    """Set when personal fields were erased (privacy request or retention); the id stays."""
    sale_opt_out_at: Mapped[datetime | None] = mapped_column(default=None)
    """CCPA: the learner opted out of the sale or sharing of personal information."""
