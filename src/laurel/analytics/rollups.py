"""Completion rates read from the rollup (:class:`~laurel.analytics.models.Cohort`).

The database keeps the rollup from ``learning_pairs`` and ``learners`` by triggers (migration
0024); a report sums a few thousand rows of it instead of numbering every pair. It answers
exactly what the pair scan (``reports.completion_rates_from_pairs``) answers, for every period
but ISO weeks and for windows that start and end on the first of a UTC month (or are open):
pairs per enrolment month and whole days to complete, so the counts and the median's histogram
come from the same rows. :func:`rebuild` recomputes it from the pairs
(``laurel analytics rebuild``).
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, literal, select, text
from sqlalchemy.orm import Session

from laurel.analytics import stats
from laurel.analytics.models import Cohort
from laurel.courses.models import Course

MONTHLY = ("all", "year", "quarter", "month")


def _on_month(when: datetime | None) -> bool:
    if when is None:
        return True
    at = when.astimezone(UTC)
    return (at.day, at.hour, at.minute, at.second, at.microsecond) == (1, 0, 0, 0, 0)


def answers(period: str, start: datetime | None, end: datetime | None) -> bool:
    """Can the rollups answer this report (else the pairs are scanned)?"""
    return period in MONTHLY and _on_month(start) and _on_month(end)


def _label(month: str, period: str) -> str:
    """The period label of a ``YYYY-MM`` month (those of ``periods.label``)."""
    if period == "all":
        return "all"
    year, number = month[:4], int(month[5:7])
    if period == "year":
        return year
    if period == "quarter":
        return f"{year}-Q{(number - 1) // 3 + 1}"
    return f"{year}-{number:02d}"


def completion_rates(
    session: Session,
    organization_id: uuid.UUID,
    livemode: bool,
    *,
    by: str,
    period: str,
    start: datetime | None,
    end: datetime | None,
    departments: frozenset[str] | None,
) -> list[dict[str, Any]]:
    """The rows of ``reports.completion_rates`` from the rollups (see :func:`answers`)."""
    dimension = by if by in ("classification", "country") else "course"

    narrowed: list[Any] = [
        Cohort.organization_id == organization_id,
        Cohort.livemode == livemode,
        Cohort.dimension == dimension,
    ]
    if departments is not None:
        narrowed.append(Cohort.department.in_(sorted(departments)))
    if start is not None:
        narrowed.append(Cohort.month >= start.astimezone(UTC).strftime("%Y-%m"))
    if end is not None:
        narrowed.append(Cohort.month < end.astimezone(UTC).strftime("%Y-%m"))

    group = Cohort.department if by == "department" else Cohort.value
    # The whole time as one period needs no month: fewer rows come back.
    months: Any = Cohort.month if period != "all" else literal("all")
    found = session.execute(
        select(group, months, Cohort.days, func.sum(Cohort.pairs))
        .where(*narrowed)
        .group_by(group, *([Cohort.month] if period != "all" else []), Cohort.days)
    ).all()
    shown = _names(session, organization_id, by)
    return rate_rows(
        ((shown(raw), _label(month, period), int(days), int(n)) for raw, month, days, n in found),
        by,
    )


def rate_rows(counted: Iterable[tuple[str, str, int, int]], by: str) -> list[dict[str, Any]]:
    """The report's rows from ``(value, period label, whole days or -1, pairs)`` counts: per
    value and period the enrolments, completions, rate and median (from the days' histogram),
    sorted by value and period."""
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    histograms: dict[tuple[str, str], Counter[int]] = defaultdict(Counter)
    for value, label, days, n in counted:
        key = (value, label)
        total = totals[key]
        total[0] += n
        if days >= 0:
            total[1] += n
            histograms[key][days] += n
    rows = []
    for (value, label), (n, done) in sorted(totals.items()):
        if n <= 0:
            continue  # only rows that moved away (a learner changed department)
        median = stats.histogram_median(histograms[(value, label)])
        rows.append(
            {
                by: value,
                "period": label,
                "enrolments": n,
                "completions": done,
                "completion_rate": round(done / n, 4),
                "median_days_to_complete": round(median, 2) if median is not None else None,
            }
        )
    return rows


def _names(session: Session, organization_id: uuid.UUID, by: str) -> Any:
    """How a stored value reads in the report: a course's external id or type, ``unknown`` for
    a learner's missing department, classification or country."""
    if by in ("course", "course_type"):
        courses: dict[str, tuple[str, str]] = {}
        for course_id, external_id, kind in session.execute(
            select(Course.id, Course.external_id, Course.type).where(
                Course.organization_id == organization_id
            )
        ):
            # PostgreSQL writes a uuid as text with dashes, SQLite stores it as 32 hex digits.
            courses[str(course_id)] = courses[course_id.hex] = (external_id, str(kind))
        index = 0 if by == "course" else 1

        def course(raw: str) -> str:
            return courses[raw][index]

        return course

    def attribute(raw: str) -> str:
        return raw or "unknown"

    return attribute


def _statement(dialect: str) -> str:
    """The migrations' backfill (0024, on SQLite as 0029 corrected it) for one organization's
    pairs (``:org``)."""
    if dialect == "postgresql":
        course = "p.course_id::text"
        month = "to_char(p.enrolled_at AT TIME ZONE 'UTC', 'YYYY-MM')"
        days = "greatest(0, floor(extract(epoch FROM p.completed_at - p.enrolled_at) / 86400))::int"
    else:
        # Date functions get the whole seconds only (they would round .9995 up: see periods).
        course = "p.course_id"
        month = "strftime('%Y-%m', substr(p.enrolled_at, 1, 19))"
        days = (
            "max(0, ((unixepoch(substr(p.completed_at, 1, 19)) "
            "- unixepoch(substr(p.enrolled_at, 1, 19))) * 1000000 "
            "+ CAST(substr(p.completed_at, 21, 6) AS INTEGER) "
            "- CAST(substr(p.enrolled_at, 21, 6) AS INTEGER)) / 86400000000)"
        )
    value = (
        f"CASE v.dimension WHEN 'course' THEN {course} "
        "WHEN 'classification' THEN coalesce(l.classification, '') "
        "ELSE coalesce(l.country, '') END"
    )
    return (
        "INSERT INTO analytics_cohorts "  # noqa: S608 - this module's constants only
        "(organization_id, livemode, dimension, value, department, month, days, pairs) "
        f"SELECT p.organization_id, p.livemode, v.dimension, {value}, "
        f"coalesce(l.department, ''), {month}, "
        f"CASE WHEN p.completed_at IS NULL THEN -1 ELSE {days} END, count(*) "
        "FROM learning_pairs p JOIN learners l ON l.id = p.learner_id, "
        "(SELECT 'course' AS dimension UNION ALL SELECT 'classification' "
        "UNION ALL SELECT 'country') AS v WHERE p.organization_id = :org "
        "GROUP BY 1, 2, 3, 4, 5, 6, 7"
    )


def rebuild(session: Session, organization_id: uuid.UUID) -> int:
    """Recompute one organization's rollups from its pairs; answers the rows written.

    For repair (rows written with the triggers disabled, a restored partial backup): the
    triggers keep them in step otherwise. Runs in the caller's transaction.
    """
    session.execute(delete(Cohort).where(Cohort.organization_id == organization_id))
    dialect = session.get_bind().dialect.name
    org = organization_id if dialect == "postgresql" else organization_id.hex
    result = session.execute(text(_statement(dialect)), {"org": org})
    return int(getattr(result, "rowcount", 0) or 0)
