"""Rosters are whole snapshots of the HR system; the latest completed one is the truth."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit.orm import Base, TenantMixin


class WorkerStatus(StrEnum):
    active = "active"
    terminated = "terminated"
    leave = "leave"


class Roster(TenantMixin, Base):
    __tablename__ = "rosters"
    __table_args__ = (
        UniqueConstraint("import_id"),
        Index(None, "organization_id", "completed_at"),
    )

    import_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("imports.id"))
    entries: Mapped[int] = mapped_column(default=0)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    """Set when the whole file is in: only completed rosters are consulted."""


class RosterEntry(TenantMixin, Base):
    __tablename__ = "roster_entries"
    __table_args__ = (
        UniqueConstraint("roster_id", "employee_id"),
        # Matching a learner by email goes through the blind index (laurel.roster.sealed).
        Index(None, "roster_id", "email_index"),
    )

    roster_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rosters.id"))
    employee_id: Mapped[str] = mapped_column(String(200))
    """Matches a learner's external id."""
    # The email and the manager are sealed under the key ring; read them through the
    # ``email`` and ``manager`` properties (laurel.roster.sealed).
    email_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    email_index: Mapped[str | None] = mapped_column(String(100), default=None)
    """Blind index of the lower-cased email, the same a learner's email has: matches a
    learner's email when the ids differ."""
    status: Mapped[str] = mapped_column(String(16))
    department: Mapped[str | None] = mapped_column(String(200), default=None)
    manager_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    classification: Mapped[str | None] = mapped_column(String(32), default=None)
    country: Mapped[str | None] = mapped_column(String(2), default=None)
    hire_date: Mapped[date | None] = mapped_column(Date, default=None)
    line: Mapped[int]
    """The file row this entry was read from (of several with its employee id, the one that
    won: ``precedence``)."""
    precedence: Mapped[int] = mapped_column(default=0, server_default="0")
    """Rank of that row among the rows of one employee id (laurel.roster.service.precedence):
    a later row of the same id replaces the entry only with a higher rank."""

    @property
    def email(self) -> str | None:
        return sealed.reveal(self, sealed.EMAIL)

    @property
    def manager(self) -> str | None:
        return sealed.reveal(self, sealed.MANAGER)


# sealed registers the sealed columns and the blind index (keys rotate).
from laurel.roster import sealed  # noqa: E402
