"""Exchange rates as published: one row per source, day and currency, quoted against the base.

Rates are public reference data (the ECB's, a provider's), shared by every organization like the
sanctions lists. They are stored as decimal text so that no float ever touches a conversion.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit.clock import utcnow
from laurel.kit.orm import Base, IdMixin


class FxRate(IdMixin, Base):
    __tablename__ = "fx_rates"
    __table_args__ = (
        UniqueConstraint("source", "base", "quote", "rate_date"),
        Index(None, "quote", "rate_date"),
    )

    source: Mapped[str] = mapped_column(String(32))
    """Who published it: ``ecb``, or a provider's name for its own rate endpoint."""
    base: Mapped[str] = mapped_column(String(3))
    quote: Mapped[str] = mapped_column(String(3))
    rate: Mapped[str] = mapped_column(String(40))
    """Units of ``quote`` for one unit of ``base``, exactly as published (e.g. ``"1.0450"``)."""
    rate_date: Mapped[date] = mapped_column(Date)
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
