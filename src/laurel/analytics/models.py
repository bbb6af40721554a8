"""The learner-course pairs the completion reports count, kept by the database itself.

One row per learner and course that was enrolled or completed: when it was enrolled (the
enrolment's time, or the first completion's for a completion nobody enrolled) and when it was
first completed. Triggers on ``enrolments`` and ``completion_events`` (migration 0021) keep it
in the same transaction as the rows it summarises, whichever path wrote them (API, LMS, roster,
imports, bulk loads), so the reports read one narrow row per pair instead of grouping every
event. It holds nothing the two source tables do not; ``analytics.pairs`` reads it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit.orm import Base


class LearningPair(Base):
    __tablename__ = "learning_pairs"
    __table_args__ = (
        # Reports over a window of enrolment times.
        Index(None, "organization_id", "livemode", "enrolled_at"),
        # On SQLite the rows are stored in key order: a report reads one range, no lookups.
        {"sqlite_with_rowid": False},
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), primary_key=True
    )
    livemode: Mapped[bool] = mapped_column(primary_key=True)
    learner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learners.id"), primary_key=True)
    course_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("courses.id"), primary_key=True)
    enrolled_at: Mapped[datetime]
    """The enrolment's time; without an enrolment, the first completion's."""
    completed_at: Mapped[datetime | None]
    """The first ``completed`` or ``passed`` event's ``occurred_at``."""
    enrolled: Mapped[bool]
    """An enrolment row exists (so ``enrolled_at`` is its time)."""


class Cohort(Base):
    """Pairs counted per enrolment month, dimension value, department and whole days taken.

    Kept by triggers on ``learning_pairs`` and on ``learners`` (a learner moving between
    departments, classifications or countries moves their pairs; migration 0024), so the
    completion rates read a few thousand rows instead of numbering every pair. ``dimension`` is
    ``course`` (``value`` is the course id as text: its type and external id are joined when
    read), ``classification`` or ``country``; a learner's missing department, classification or
    country is ``''``. ``department`` is the learner's current department: a department
    manager's report reads only theirs, and a report by department sums the course rows.
    ``days`` is the whole days from enrolment to first completion (``floor``, never negative),
    ``-1`` for pairs not completed: enrolments are every row's pairs, completions those with
    ``days >= 0``, and the median is read from the same rows as a histogram.
    """

    __tablename__ = "analytics_cohorts"
    __table_args__ = ({"sqlite_with_rowid": False},)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), primary_key=True
    )
    livemode: Mapped[bool] = mapped_column(primary_key=True)
    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(64), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    """The UTC month the pairs were enrolled (``YYYY-MM``)."""
    days: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Last in the key: a report groups by value, month and days in key order (no sort on
    # SQLite) and a manager's filter on it only skips rows.
    department: Mapped[str] = mapped_column(String(200), primary_key=True)
    pairs: Mapped[int] = mapped_column(Integer)


class Daily(Base):
    """Completions and settled rewards per UTC day, kind, currency and department.

    Kept by triggers on ``completion_events``, ``rewards`` and ``learners`` (migration 0028),
    so the overview and the finance pages sum a few thousand rows instead of scanning every
    event and reward. ``kind`` is ``completion`` (events ``completed`` or ``passed``, on the
    day of ``occurred_at``; ``currency`` is ``''``) or a reward state (rewards on the day of
    ``created_at``). Rewards in ``pending``, ``ready`` or ``issuing`` are never counted here:
    they are transient and few, and the reports read them from the rewards themselves.
    ``department`` is the learner's current one (``''`` for none), as in :class:`Cohort`.
    """

    __tablename__ = "analytics_daily"
    __table_args__ = ({"sqlite_with_rowid": False},)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), primary_key=True
    )
    livemode: Mapped[bool] = mapped_column(primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    """The UTC day (``YYYY-MM-DD``)."""
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    department: Mapped[str] = mapped_column(String(200), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
    """Events or rewards counted."""
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    """The rewards' amounts summed, in minor units of ``currency`` (0 for completions)."""


class Latency(Base):
    """Rewards with a ``delivered_at`` per millisecond of event→delivery latency and department.

    Whatever the reward's state (a redeemed or expired reward keeps its delivery), kept by the
    same triggers as :class:`Daily`: the overview's percentiles are exact ranks over these
    counts. All time only: an overview over a window scans the rewards.
    """

    __tablename__ = "analytics_latency"
    __table_args__ = ({"sqlite_with_rowid": False},)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), primary_key=True
    )
    livemode: Mapped[bool] = mapped_column(primary_key=True)
    latency_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    """From the event's receipt to delivery, rounded to the millisecond (half away from 0)."""
    department: Mapped[str] = mapped_column(String(200), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class ReportSnapshot(Base):
    """A report too costly to count per page view, as last computed (``analytics.snapshots``):
    a program's lift, or completion rates the rollups cannot answer, for the whole organization
    or a department manager's departments. Answered from here while fresh: younger than
    ``report_refresh_seconds`` and computed at the organization's current ``config_revision``.
    """

    __tablename__ = "analytics_snapshots"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), primary_key=True
    )
    livemode: Mapped[bool] = mapped_column(primary_key=True)
    report: Mapped[str] = mapped_column(String(32), primary_key=True)
    """``lift`` or ``completion_rates``."""
    key: Mapped[str] = mapped_column(String(2000), primary_key=True)
    """The report's parameters and scope as canonical JSON (``snapshots.key_of``)."""
    computed_at: Mapped[datetime]
    """The moment the report was computed as of."""
    config_revision: Mapped[int] = mapped_column(BigInteger)
    """The organization's ``config_revision`` read before computing: a different one now means
    the program's settings (or other configuration) may have changed since."""
    # Plain JSON, not JSONB: the stored text keeps the report's key order, which the CSV and
    # XLSX columns follow.
    result: Mapped[dict[str, Any]] = mapped_column(JSON())
    """The report's answer, exactly as it was computed."""
    read_at: Mapped[datetime]
    """When a reader last asked for it (first stored, or marked at most every
    ``snapshots.READ_MARK``): the worker keeps fresh only what was read lately."""
