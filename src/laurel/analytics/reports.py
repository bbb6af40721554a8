"""The reports: completion rates by dimension and period, incentive lift, the overview.

Every report answers plain rows (dicts of JSON-ready values) so the same data goes out as JSON,
CSV or XLSX. Amounts are integer minor units with their currency, never floats.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, literal_column, select
from sqlalchemy.orm import Session

from laurel.analytics import daily, periods, rollups, stats
from laurel.analytics import pairs as pairs_
from laurel.courses import service as courses
from laurel.courses.models import Course
from laurel.events.models import CompletionEvent
from laurel.kit.actor import Actor
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


def narrowing(actor: Actor) -> dict[str, Any]:
    """The ``learners_in`` and ``departments`` arguments of the reports for ``actor``.

    ``learners_in`` is ``learners.visible_ids`` (None for the whole organization);
    ``departments`` lets the rollups answer a department manager (they are kept per
    department); a caller narrowed to one learner has none, and its reports scan the pairs.
    """
    return {
        "learners_in": learners.visible_ids(actor),
        "departments": actor.departments if actor.learner_id is None else None,
    }


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
    departments: frozenset[str] | None = None,
) -> list[dict[str, Any]]:
    """Of the pairs enrolled in each period, how many were completed (so far), per value, and
    the median whole days from enrolment to first completion.

    Read from the rollups (``analytics.rollups``) when they can answer: the whole organization
    (``learners_in`` None) or a department manager (``departments``, with ``learners_in`` the
    same learners), any period but ISO weeks, a window on month bounds. Otherwise the pairs
    are counted (:func:`completion_rates_from_counts`), with the same results.
    """
    if by not in DIMENSIONS:
        raise field_error("by", f"use one of {', '.join(DIMENSIONS)}")
    if period not in PERIODS:
        raise field_error("period", f"use one of {', '.join(PERIODS)}")
    if (learners_in is None or departments is not None) and rollups.answers(period, start, end):
        return rollups.completion_rates(
            session,
            organization_id,
            livemode,
            by=by,
            period=period,
            start=start,
            end=end,
            departments=departments if learners_in is not None else None,
        )
    return completion_rates_from_counts(
        session,
        organization_id,
        livemode,
        by=by,
        period=period,
        start=start,
        end=end,
        learners_in=learners_in,
    )


def _pairs_for(
    organization_id: uuid.UUID,
    livemode: bool,
    by: str,
    start: datetime | None,
    end: datetime | None,
    learners_in: Select[Any] | None,
) -> tuple[Any, Any, list[Any]]:
    """The pairs (a subquery), what they are joined to for ``by`` and the window's conditions."""
    pairs = pairs_.subquery(organization_id, livemode, learners=learners_in)
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
    return pairs, joined, window


def _positions(n: int) -> list[Any]:
    """``GROUP BY 1, 2, …, n``: expressions with bound parameters (a period label, a piece of
    the window, whole days) repeated in GROUP BY are not recognised as the selected ones, and
    SQLite computes them twice a row."""
    return [literal_column(str(i)) for i in range(1, n + 1)]


def completion_rates_from_counts(
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
    """:func:`completion_rates` from the pairs when the rollups cannot answer (ISO weeks, a
    window off month bounds, one learner's scope).

    The database counts the pairs per value, period and whole days to complete (-1 when not
    completed) and the median comes from those counts, as from the rollups: a grouping, about
    half the CPU of numbering every group's pairs (:func:`completion_rates_from_pairs`, kept
    as the independent reference the tests compare against).
    """
    dialect = session.get_bind().dialect.name
    pairs, joined, window = _pairs_for(organization_id, livemode, by, start, end, learners_in)
    value = _dimension_column(by)
    # SQLite numbers the weeks and Python names them: half the CPU of the label in SQL.
    numbered = dialect == "sqlite" and period == "week"
    label = (
        periods.sql_week_number(pairs.c.enrolled_at)
        if numbered
        else periods.sql_label(dialect, pairs.c.enrolled_at, period)
    )
    name = periods.week_label if numbered else str
    days = case(
        (pairs.c.completed_at.is_(None), -1),
        else_=periods.sql_whole_days(dialect, pairs.c.enrolled_at, pairs.c.completed_at),
    )
    found = session.execute(
        select(value, label, days, func.count())
        .select_from(joined)
        .where(*window)
        .group_by(*_positions(3))
    )
    return rollups.rate_rows(((str(v), name(lab), int(d), int(n)) for v, lab, d, n in found), by)


def completion_rates_from_pairs(
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
    """:func:`completion_rates` from the pairs, one statement.

    Grouped and counted by the database, the median by numbering each group's durations
    (a window function), so only the result rows come back. ``learners_in`` (a select of
    learner ids, ``learners.visible_ids``) narrows the report to a manager's departments.
    """
    dialect = session.get_bind().dialect.name
    pairs, joined, window = _pairs_for(organization_id, livemode, by, start, end, learners_in)
    value = _dimension_column(by)
    done = pairs.c.completed_at.is_not(None)
    # One pass: each group's pairs numbered by duration, completed apart from the rest, so
    # the median is the average of the one or two middle completed rows.
    part = (value, periods.sql_label(dialect, pairs.c.enrolled_at, period), done)
    days = periods.sql_whole_days(dialect, pairs.c.enrolled_at, pairs.c.completed_at)
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


@dataclass(slots=True)
class _Group:
    """One side of a lift comparison: how many pairs, and how many completed in how many whole
    days (the median's histogram, as the completion rates count them)."""

    name: str
    enrolments: int = 0
    days: Counter[int] = field(default_factory=Counter)

    @property
    def completions(self) -> int:
        return sum(self.days.values())

    def summary(self) -> dict[str, Any]:
        typical = stats.histogram_median(self.days)
        n, done = self.enrolments, self.completions
        return {
            "group": self.name,
            "enrolments": n,
            "completions": done,
            "completion_rate": round(done / n, 4) if n else None,
            "median_days_to_complete": round(typical, 2) if typical is not None else None,
        }


def _covered(
    program_id: uuid.UUID,
    snapshot: programs.ProgramSet,
    learner: tuple[str, str | None, str | None],
    course: Course,
    when: datetime,
) -> bool:
    """Would a pass of this course by this learner (classification, department, country) at
    ``when`` be decided by the program?"""
    classification, department, country = learner
    subject = rules_engine.Subject(
        classification=classification,
        department=department,
        country=country,
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


def _turns(snapshot: programs.ProgramSet, program_id: uuid.UUID) -> list[datetime]:
    """The times at which the program's settings or rules can change what it covers.

    Between two of them (and inside the eligibility window's ends) a decision depends only on
    the learner's classification, department and country and on the course, so the lift judges
    each distinct combination once instead of each pair."""
    found = {v.effective_from for v in snapshot.versions.get(program_id, [])}
    found |= {r.effective_from for rs in snapshot.rules.get(program_id, []) for r in rs}
    for version in snapshot.versions.get(program_id, []):
        for end in ("starts_at", "ends_at"):
            value = (version.eligibility or {}).get(end)
            if value:
                found.add(datetime.fromisoformat(value))
    return sorted(found)


def _groups(
    session: Session,
    organization_id: uuid.UUID,
    livemode: bool,
    program_id: uuid.UUID,
    snapshot: programs.ProgramSet,
    *,
    since: datetime,
    started: datetime,
    now: datetime,
    control: tuple[dict[uuid.UUID, bool], int] | None,
    learners_in: Select[Any] | None,
) -> tuple[_Group, _Group]:
    """The incentivised group and its baseline (the control group, given ``control``: the
    recorded assignments and the share for the rest; else the pre-period since ``since``)."""
    # Only pairs enrolled in the window the comparison reads (the pre-period too without a
    # holdout), and only a manager's learners. The window is cut where the program's settings
    # change (``_turns``), so within a piece a pair's coverage depends only on its learner's
    # attributes and its course: the database counts pairs per such combination, and each
    # combination is judged once. A holdout adds the learner (the group is per person).
    has_holdout = control is not None
    pairs = pairs_.subquery(organization_id, livemode, learners=learners_in)
    edges = sorted({t for t in _turns(snapshot, program_id) if since < t <= now} | {started})
    piece = case(
        *[(pairs.c.enrolled_at < edge, i) for i, edge in enumerate(edges)], else_=len(edges)
    )
    firsts = [since, *edges]  # the start of each piece: its coverage is decided there
    during_from = edges.index(started) + 1  # pieces from here on are in the program's window
    who: list[Any] = [pairs.c.learner_id] if has_holdout else []
    key = [Learner.classification, Learner.department, Learner.country, pairs.c.course_id]
    window = [pairs.c.enrolled_at >= since, pairs.c.enrolled_at <= now]
    counted = session.execute(
        select(*key, piece, *who, func.count())
        .join(Learner, Learner.id == pairs.c.learner_id)
        .where(*window)
        .group_by(*_positions(len(key) + 1 + len(who)))
    ).all()
    titles = courses.get_many(session, organization_id, {row[3] for row in counted})
    decided: dict[tuple[Any, ...], bool] = {}

    def covered(row: Any) -> bool:
        """Is this combination (classification, department, country, course, piece) one the
        program pays for, in its window?"""
        if row[4] < during_from:
            return False
        combo = tuple(row[:5])
        known = decided.get(combo)
        if known is None:
            course = titles.get(row[3])
            known = decided[combo] = course is not None and _covered(
                program_id, snapshot, (row[0], row[1], row[2]), course, firsts[row[4]]
            )
        return known

    recorded, share = control or ({}, 0)
    decided_groups: dict[uuid.UUID, bool] = {}

    def in_control(learner_id: uuid.UUID) -> bool:
        known = recorded.get(learner_id)
        if known is None:
            known = decided_groups.get(learner_id)
        if known is None:
            known = decided_groups[learner_id] = holdout.in_control(program_id, learner_id, share)
        return known

    treated = _Group("incentivised")
    baseline = _Group("control" if has_holdout else "pre_period")
    course_ids = {row[3] for row in counted if covered(row)}

    def side(row: Any) -> _Group | None:
        """Which group a combination's pairs count in, if any."""
        if covered(row):
            return baseline if has_holdout and in_control(row[5]) else treated
        if not has_holdout and row[4] < during_from and row[3] in course_ids:
            return baseline
        return None

    for row in counted:
        group = side(row)
        if group is not None:
            group.enrolments += int(row[-1])
    # The medians' histograms: the completed pairs of the courses that count, per combination
    # and whole days to complete (as the completion rates count them), counted by the database.
    if course_ids:
        took = periods.sql_whole_days(
            session.get_bind().dialect.name, pairs.c.enrolled_at, pairs.c.completed_at
        )
        for row in session.execute(
            select(*key, piece, *who, took, func.count())
            .join(Learner, Learner.id == pairs.c.learner_id)
            .where(*window, pairs.c.completed_at.is_not(None), pairs.c.course_id.in_(course_ids))
            .group_by(*_positions(len(key) + 2 + len(who)))
        ):
            group = side(row)
            if group is not None:
                group.days[int(row[-2])] += int(row[-1])
    return treated, baseline


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

    Set-based (:func:`_groups`): the database counts the pairs per learner attributes, course
    and piece of the window between changes of the program's settings; each combination is
    judged against the rules once; then it counts the completed pairs of the courses that
    count per whole days to complete, for the medians (of whole days, as the completion rates
    count them).
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
    treated, baseline = _groups(
        session,
        organization_id,
        livemode,
        program_id,
        snapshot,
        since=started if has_holdout else started - span,
        started=started,
        now=now,
        control=(recorded, share) if has_holdout else None,
        learners_in=learners_in,
    )
    comparison = "holdout" if has_holdout else "pre_period"
    k1, k2 = treated.completions, baseline.completions
    n1, n2 = treated.enrolments, baseline.enrolments
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
    departments: frozenset[str] | None = None,
) -> dict[str, Any]:
    """Completions, rewards by state, spend and cost per completion, event→delivery latency.

    Over all time, for the whole organization or a department manager (``departments``, with
    ``learners_in`` the same learners; see :func:`narrowing`), read from the daily rollups
    (``analytics.daily``) plus the few rewards in a transient state; otherwise scanned
    (:func:`overview_from_scan`), with the same results.
    """
    if start is None and end is None and (learners_in is None or departments is not None):
        found = daily.activity(
            session,
            organization_id,
            livemode,
            departments=departments if learners_in is not None else None,
        )
        found.add(
            scan_activity(
                session,
                organization_id,
                livemode,
                start=None,
                end=None,
                learners_in=learners_in,
                states=daily.TRANSIENT,
                latency=False,  # the latency rollup counts every state
            )
        )
        return found.overview()
    return overview_from_scan(
        session, organization_id, livemode, start=start, end=end, learners_in=learners_in
    )


def overview_from_scan(
    session: Session,
    organization_id: uuid.UUID,
    livemode: bool,
    *,
    start: datetime | None,
    end: datetime | None,
    learners_in: Select[Any] | None = None,
) -> dict[str, Any]:
    """:func:`overview` from the events and rewards themselves (any window, any narrowing)."""
    return scan_activity(
        session, organization_id, livemode, start=start, end=end, learners_in=learners_in
    ).overview()


def scan_activity(
    session: Session,
    organization_id: uuid.UUID,
    livemode: bool,
    *,
    start: datetime | None,
    end: datetime | None,
    learners_in: Select[Any] | None = None,
    states: Sequence[str] | None = None,
    latency: bool = True,
) -> daily.Activity:
    """The overview's counts from the rows: completions (unless ``states`` narrows it to some
    rewards), rewards and amounts by state and currency, and the latency histogram (unless
    ``latency`` is false).

    Three statements, all aggregated by the database; latencies are counted per millisecond
    (a few thousand rows, no sort of every reward)."""

    def window(column: Any) -> list[Any]:
        found = []
        if start is not None:
            found.append(column >= start)
        if end is not None:
            found.append(column < end)
        return found

    def mine(column: Any) -> list[Any]:
        if learners_in is None:
            return []
        if states is not None:  # the few transient rewards: their state index leads
            return [daily.broad(session, column.in_(learners_in))]
        return [column.in_(learners_in)]

    found = daily.Activity()
    if states is None:
        found.completions = int(
            session.scalar(
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
            or 0
        )
    which = [] if states is None else [daily.in_states(session, states)]
    for state, currency, n, total in session.execute(
        select(Reward.state, Reward.currency, func.count(), func.sum(Reward.amount_minor))
        .where(
            Reward.organization_id == organization_id,
            Reward.livemode == livemode,
            *which,
            *window(Reward.created_at),
            *mine(Reward.learner_id),
        )
        .group_by(Reward.state, Reward.currency)
    ):
        found.count(str(state), currency, int(n), int(total or 0))
    if not latency:
        return found
    dialect = session.get_bind().dialect.name
    millis = periods.sql_millis(dialect, Reward.event_received_at, Reward.delivered_at)
    for ms, k in session.execute(
        select(millis, func.count())
        .where(
            Reward.organization_id == organization_id,
            Reward.livemode == livemode,
            Reward.delivered_at.is_not(None),
            *which,
            *window(Reward.created_at),
            *mine(Reward.learner_id),
        )
        .group_by(millis)
    ):
        found.latency[int(ms)] += int(k)
    return found
