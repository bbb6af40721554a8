"""Storage for list versions, their entries, screening results, review cases and reports.

List versions and entries are global (OFAC's lists are the same for every organization);
results, cases and reports belong to an organization like every other tenant row.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit.clock import utcnow
from laurel.kit.ids import uuid7
from laurel.kit.orm import Base, TenantMixin


class ScreeningDecision(StrEnum):
    clear = "clear"
    review = "review"
    """A possible match (name or country): a person decides."""
    unscreened = "unscreened"
    """No list has been imported yet and the country is not sanctioned."""


class CaseStatus(StrEnum):
    open = "open"
    cleared = "cleared"
    confirmed = "confirmed"
    superseded = "superseded"
    """A newer list no longer matches: closed without a reviewer, the reward moves on."""


class ListVersion(Base):
    __tablename__ = "sanctions_list_versions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    checksum: Mapped[str] = mapped_column(String(64), unique=True)
    """SHA-256 over the sorted file names and each file's SHA-256: same files, same version."""
    list_date: Mapped[datetime | None]
    list_date_source: Mapped[str] = mapped_column(String(32))
    """``given`` (the caller said), ``last-modified`` (HTTP header) or ``file-mtime``."""
    source: Mapped[str] = mapped_column(String(2000))
    files: Mapped[dict[str, Any]]
    """Per file: ``sha256``, ``bytes``."""
    entries: Mapped[int]
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
    imported_by: Mapped[str] = mapped_column(String(200))


class ListEntry(Base):
    __tablename__ = "sanctions_entries"
    __table_args__ = (UniqueConstraint("list_version_id", "list_code", "ent_num"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    list_version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sanctions_list_versions.id", ondelete="CASCADE")
    )
    list_code: Mapped[str] = mapped_column(String(8))
    """``SDN`` or ``CONS``."""
    ent_num: Mapped[int]
    name: Mapped[str] = mapped_column(String(500))
    sdn_type: Mapped[str] = mapped_column(String(16))
    programs: Mapped[list[Any]]
    remarks: Mapped[str] = mapped_column(Text, default="")
    aliases: Mapped[list[Any]]
    countries: Mapped[list[Any]]


class ScreeningResult(TenantMixin, Base):
    """One screening of one name: by the gate for a reward, or a manual check."""

    __tablename__ = "screening_results"
    __table_args__ = (
        # The gate screens a reward once per list version, however often its pipeline re-runs.
        UniqueConstraint("reward_id", "screen_key"),
        Index(None, "organization_id", "created_at"),
    )

    livemode: Mapped[bool] = mapped_column(default=True)
    reward_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("rewards.id"))
    learner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("learners.id"))
    list_version_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sanctions_list_versions.id")
    )
    screen_key: Mapped[str] = mapped_column(String(64))
    """The list version id, or ``none`` when no list was imported."""
    query_name: Mapped[str | None] = mapped_column(String(500))
    query_country: Mapped[str | None] = mapped_column(String(8))
    decision: Mapped[str] = mapped_column(String(16))
    score: Mapped[float | None]
    """Best name score, 0..1 (not money: a similarity)."""
    threshold: Mapped[float]
    country_hit: Mapped[str | None] = mapped_column(String(8))
    matches: Mapped[list[Any]]
    actor: Mapped[str] = mapped_column(String(200))


class ReviewCase(TenantMixin, Base):
    """A possible match waiting for (or decided by) a compliance reviewer. One per reward."""

    __tablename__ = "screening_cases"
    __table_args__ = (Index(None, "organization_id", "status"),)

    livemode: Mapped[bool] = mapped_column(default=True)
    reward_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rewards.id"), unique=True)
    learner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learners.id"))
    result_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("screening_results.id"))
    """The latest screening that found the possible match."""
    status: Mapped[str] = mapped_column(String(16), default=CaseStatus.open)
    reviewer: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(2000))
    decided_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SanctionsReport(TenantMixin, Base):
    """Kept when a reviewer confirms a match: what OFAC's blocking report needs, and when."""

    __tablename__ = "sanctions_reports"

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("screening_cases.id"), unique=True)
    reward_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rewards.id"))
    learner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learners.id"))
    reviewer: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any]]
    """The query, the matched entries (with programs and remarks), the reason, the amount."""
    due_at: Mapped[datetime]
    """OFAC expects a report of blocked property within 10 business days."""
