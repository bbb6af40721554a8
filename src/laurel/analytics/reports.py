"""The reports: completion rates by dimension and period, incentive lift, the overview.

Every report answers plain rows (dicts of JSON-ready values) so the same data goes out as JSON,
CSV or XLSX. Amounts are integer minor units with their currency, never floats.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Numeric, Select, case, cast, func, select
from sqlalchemy.orm import Session

from laurel.analytics import pairs as pairs_
from laurel.analytics import periods, stats
from laurel.courses import service as courses
from laurel.courses.models import Course
from laurel.events.models import CompletionEvent
from laurel.kit.clock import utcnow
from laurel.kit.errors import NotFound, field_error
from laurel.kit.money import Money
from laurel.learners import service as learners
from laurel.learners.models import Learner
from laurel.programs import holdout
from laurel.programs import rules as rules_engine
from laurel.programs import service as programs
from laurel.rewards.models import Reward, RewardState

DIMENSIONS = ("course", "course_type", "department", "classification", "country")
PERIODS = periods.PERIODS
NOT_SPENT = (RewardState.cancelled, RewardState.failed)


def period_of(when: datetime, period: str) -> str:
    return periods.label(when, period)


def _dimension_column(by: str) -> Any:
    if by == "course":
        return Course.external_id
    if by == "course_type":
        return Course.type
    column = getattr(Learner, by)
    return func.coalesce(func.nullif(column, ""), "unknown")


def completion_rates(
    session: Session,
    organization_id: uuid.UUID,
    livemode: bool,
    *,
    by: str,
    period: str,
    start: datetime | None,
    end: datetime | None,
    learners_in: Select[Any] | None = None,
) -> list[dict[str, Any]]:
    """Of the pairs enrolled in each period, how many were completed (so far), per value.

    Grouped and counted by the database, the median by numbering each group's durations
    (a window function), so only the result rows come back. ``learners_in`` (a select of
    learner ids, ``learners.visible_ids``) narrows the report to a manager's departments.
    """
    if by not in DIMENSIONS:
        raise field_error("by", f"use one of {', '.join(DIMENSIONS)}")
    if period not in PERIODS:
        raise field_error("period", f"use one of {', '.join(PERIODS)}")
    dialect = session.get_bind().dialect.name
    pairs = pairs_.subquery(organization_id, livemode, learners=learners_in)
    value = _dimension_column(by)
    joined: Any = pairs
    if by in ("course", "course_type"):
        joined = joined.join(Course, Course.id == pairs.c.course_id)
    else:
        joined = joined.join(Learner, Learner.id == pairs.c.learner_id)
    window = []
    if start is not None:
        window.append(pairs.c.enrolled_at >= start)
    if end is not None:
        window.append(pairs.c.enrolled_at < end)
    done = pairs.c.completed_at.is_not(None)
    # One pass: each group's pairs numbered by duration, completed apart from the rest, so
    # the median is the average of the one or two middle completed rows.
    part = (value, periods.sql_label(dialect, pairs.c.enrolled_at, period), done)
    days = periods.sql_days(dialect, pairs.c.enrolled_at, pairs.c.completed_at)
    ranked = (
        select(
            part[0].label("value"),
            part[1].label("label"),
            done.label("done"),
            days.label("days"),
            func.row_number().over(partition_by=part, order_by=days).label("rank"),
            func.count().over(partition_by=part).label("size"),
        )
        .select_from(joined)
        .where(*window)
        .subquery("ranked")
    )
    middle = ranked.c.done & (ranked.c.rank * 2).in_(
        [ranked.c.size, ranked.c.size + 1, ranked.c.size + 2]
    )
    grouped = select(
        ranked.c.value,
        ranked.c.label,
        func.count(),
        func.sum(case((ranked.c.done, 1), else_=0)),
        func.avg(case((middle, ranked.c.days))),
    ).group_by(ranked.c.value, ranked.c.label)
    rows = []
    found = sorted(session.execute(grouped), key=lambda r: (r[0], r[1]))
    for v, label, n, completed, median in found:
        typical = float(median) if median is not None else None
        rows.append(
            {
                by: v,
                "period": label,
                "enrolments": int(n),
                "completions": int(completed),
                "completion_rate": round(int(completed) / int(n), 4),
                "median_days_to_complete": round(typical, 2) if typical is not None else None,
            }
        )
    return rows


@dataclass(frozen=True, slots=True)
class _Group:
    name: str
    pairs: list[pairs_.Pair]

    def summary(self) -> dict[str, Any]:
        done = [p.days_to_complete for p in self.pairs if p.completed_at is not None]
        days = stats.median([d for d in done if d is not None])
        n = len(self.pairs)
        return {
            "group": self.name,
            "enrolments": n,
            "completions": len(done),
            "completion_rate": round(len(done) / n, 4) if n else None,
            "median_days_to_complete": round(days, 2) if days is not None else None,
        }


def _covered(
    program_id: uuid.UUID,
    snapshot: programs.ProgramSet,
    learner: Learner,
    course: Course,
    when: datetime,
) -> bool:
    """Would a pass of this course by this learner at ``when`` be decided by the program?"""
    subject = rules_engine.Subject(
        classification=learner.classification,
        department=learner.department,
        country=learner.country,
        course_external_id=course.external_id,
        course_type=course.type,
        course_tags=tuple(course.tags or ()),
        course_importance=course.importance,
        course_duration_minutes=course.duration_minutes,
        outcome="passed",
        score=1.0,
        occurred_at=when,
    )
    for version, rules in snapshot.at(when):
        if version.program_id != program_id:
            continue
        if rules_engine.eligibility_failure(version.eligibility, subject) is not None:
            return False
        return any(rules_engine.matches(r.conditions, subject) for r in rules)
    return False


def lift(
    session: Session,
    organization_id: uuid.UUID,
    livemode: bool,
    program_id: uuid.UUID,
    *,
    as_of: datetime | None = None,
    learners_in: Select[Any] | None = None,
) -> dict[str, Any]:
    """Completion with the incentive against completion without it, with a 95 % interval.

    With a holdout, the comparison is the program's own control group over the same period.
    Without one, it is the same courses in the equally long period before the program started,
    labelled ``pre_period``: weaker evidence (anything else that changed counts as lift).
    """
    snapshot = programs.snapshot(session, organization_id)
    versions = snapshot.versions.get(program_id)
    if not versions:
        raise NotFound({"program_id": str(program_id), "message": "no such program"})
    now = as_of or utcnow()
    started = min(v.effective_from for v in versions)
    current = max((v for v in versions if v.effective_from <= now), key=lambda v: v.version)
    recorded = holdout.groups_for(session, organization_id, program_id)
    share = current.holdout_bps  # for learners not recorded yet
    has_holdout = share > 0 or any(recorded.values())
    span = now - started
    # Only pairs enrolled in the window the comparison reads (the pre-period too without a
    # holdout), and only a manager's learners: the database leaves the rest behind.
    found = pairs_.load(
        session,
        organization_id,
        livemode,
        learners=learners_in,
        enrolled_from=started if has_holdout else started - span,
        enrolled_until=now,
    )
    people = learners.get_many(session, organization_id, {p.learner_id for p in found})
    titles = courses.get_many(session, organization_id, {p.course_id for p in found})

    def covered(p: pairs_.Pair, when: datetime) -> bool:
        learner, course = people.get(p.learner_id), titles.get(p.course_id)
        return bool(learner and course) and _covered(
            program_id,
            snapshot,
            learner,  # type: ignore[arg-type]
            course,  # type: ignore[arg-type]
            when,
        )

    during = [p for p in found if started <= p.enrolled_at <= now and covered(p, p.enrolled_at)]
    if has_holdout:

        def in_control(p: pairs_.Pair) -> bool:
            known = recorded.get(p.learner_id)
            if known is not None:
                return known
            return holdout.in_control(program_id, p.learner_id, share)

        treated = _Group("incentivised", [p for p in during if not in_control(p)])
        baseline = _Group("control", [p for p in during if in_control(p)])
        comparison = "holdout"
    else:
        course_ids = {p.course_id for p in during}
        before = [
            p
            for p in found
            if started - span <= p.enrolled_at < started and p.course_id in course_ids
        ]
        treated = _Group("incentivised", during)
        baseline = _Group("pre_period", before)
        comparison = "pre_period"
    k1 = sum(1 for p in treated.pairs if p.completed_at is not None)
    k2 = sum(1 for p in baseline.pairs if p.completed_at is not None)
    n1, n2 = len(treated.pairs), len(baseline.pairs)
    diff, interval = stats.difference(k1, n1, k2, n2)
    spend = _spend(session, organization_id, livemode, program_id, started, now, learners_in)
    incremental = diff * n1
    cost = (
        {c: Money(round(m / incremental), c).to_json() for c, m in spend.items()}
        if incremental >= 1
        else None
    )
    return {
        "program_id": str(program_id),
        "comparison": comparison,
        "holdout_bps": current.holdout_bps,
        "since": started.isoformat(),
        "until": now.isoformat(),
        "groups": [treated.summary(), baseline.summary()],
        "lift": round(diff, 4),
        "lift_ci95": [round(interval.low, 4), round(interval.high, 4)],
        "relative_lift": round(diff / (k2 / n2), 4) if n2 and k2 else None,
        "incremental_completions": round(incremental, 1),
        "spend": [Money(m, c).to_json() for c, m in sorted(spend.items())],
        "cost_per_incremental_completion": cost,
        "note": None
        if has_holdout
        else "No control group: compared with the same courses before the program started; "
        "anything else that changed since then counts as lift.",
    }


def _spend(
    session: Session,
    organization_id: uuid.UUID,
    livemode: bool,
    program_id: uuid.UUID,
    start: datetime,
    end: datetime,
    learners_in: Select[Any] | None,
) -> dict[str, int]:
    mine = [] if learners_in is None else [Reward.learner_id.in_(learners_in)]
    rows = session.execute(
        select(Reward.currency, func.sum(Reward.amount_minor))
        .where(
            Reward.organization_id == organization_id,
            Reward.livemode == livemode,
            Reward.program_id == program_id,
            Reward.state.not_in(NOT_SPENT),
            Reward.created_at >= start,
            Reward.created_at <= end,
            *mine,
        )
        .group_by(Reward.currency)
    )
    return {currency: int(total or 0) for currency, total in rows}


def overview(
    session: Session,
    organization_id: uuid.UUID,
    livemode: bool,
    *,
    start: datetime | None,
    end: datetime | None,
    learners_in: Select[Any] | None = None,
) -> dict[str, Any]:
    """Completions, rewards by state, spend and cost per completion, event→delivery latency.

    Three statements, all aggregated by the database; the latency percentiles are the values at
    the percentile's place among the delivered rewards' latencies (to the millisecond).
    """

    def window(column: Any) -> list[Any]:
        found = []
        if start is not None:
            found.append(column >= start)
        if end is not None:
            found.append(column < end)
        return found

    def mine(column: Any) -> list[Any]:
        return [] if learners_in is None else [column.in_(learners_in)]

    completions = session.scalar(
        select(func.count())
        .select_from(CompletionEvent)
        .where(
            CompletionEvent.organization_id == organization_id,
            CompletionEvent.livemode == livemode,
            CompletionEvent.outcome.in_(pairs_.COMPLETED),
            *window(CompletionEvent.occurred_at),
            *mine(CompletionEvent.learner_id),
        )
    )
    by_state: dict[str, int] = defaultdict(int)
    spent: dict[str, int] = defaultdict(int)
    for state, currency, n, total in session.execute(
        select(Reward.state, Reward.currency, func.count(), func.sum(Reward.amount_minor))
        .where(
            Reward.organization_id == organization_id,
            Reward.livemode == livemode,
            *window(Reward.created_at),
            *mine(Reward.learner_id),
        )
        .group_by(Reward.state, Reward.currency)
    ):
        by_state[str(state)] += int(n)
        if state == RewardState.delivered:
            spent[currency] += int(total or 0)
    dialect = session.get_bind().dialect.name
    delivered = [
        Reward.organization_id == organization_id,
        Reward.livemode == livemode,
        Reward.delivered_at.is_not(None),
        Reward.event_received_at.is_not(None),
        *window(Reward.created_at),
        *mine(Reward.learner_id),
    ]
    # Latencies counted per millisecond (rounding keeps their order, so the value at a rank
    # is the rounded value at that rank): a few thousand rows, no sort of every reward.
    seconds = periods.sql_seconds(dialect, Reward.event_received_at, Reward.delivered_at)
    latency = func.round(cast(seconds, Numeric) if dialect == "postgresql" else seconds, 3)
    histogram = [
        (float(ms), int(k))
        for ms, k in session.execute(
            select(latency, func.count()).where(*delivered).group_by(latency).order_by(latency)
        )
    ]
    n = sum(k for _, k in histogram)

    def percentile(q: float) -> float | None:
        if not n:
            return None
        rank, seen = min(n - 1, int(q * n)), 0
        for value, k in histogram:
            seen += k
            if seen > rank:
                return round(value, 3)
        return None

    count = int(completions or 0)
    return {
        "completions": count,
        "rewards": dict(sorted(by_state.items())),
        "spend": [Money(m, c).to_json() for c, m in sorted(spent.items())],
        "cost_per_completion": [
            Money(round(m / count), c).to_json() for c, m in sorted(spent.items()) if count
        ],
        "delivery_latency_seconds": {"p50": percentile(0.5), "p95": percentile(0.95)},
    }
