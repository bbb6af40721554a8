"""Storage for FCPA: each organization's limits (the defaults live in code until it sets its
own)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit.clock import utcnow
from laurel.kit.orm import Base, TenantMixin


class FcpaSettings(TenantMixin, Base):
    """An organization's FCPA limits: one row per organization, written on its first change.

    Both limits are in ``currency``; the gate compares rewards with them at the ECB rate of
    each reward's day.
    """

    __tablename__ = "fcpa_settings"
    __table_args__ = (UniqueConstraint("organization_id"),)

    currency: Mapped[str] = mapped_column(String(3))
    """ISO 4217 code of both limits."""
    event_limit_minor: Mapped[int]
    """Minor units of ``currency``: a reward above this needs compliance approval."""
    yearly_limit_minor: Mapped[int]
    """Minor units of ``currency``: a partner's calendar-year total above this needs it."""
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
