"""The overview and the finance series read from the daily rollups (``Daily``, ``Latency``).

The database keeps them from ``completion_events``, ``rewards`` and ``learners`` by triggers
(migration 0028): completions and settled rewards per UTC day, kind, currency and department,
and delivered rewards per millisecond of latency. Rewards in a transient state (``pending``,
``ready``, ``issuing``) are not in them — the worker's claim writes nothing there — so a reader
adds those few from the rewards' state index. What they answer equals the scans
(``reports.overview_from_scan``, ``dashboard.queries.series_from_scan``); :func:`rebuild`
recomputes them (``laurel analytics rebuild``).
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, delete, func, literal_column, select, text
from sqlalchemy.orm import Session

from laurel.analytics.models import Daily, Latency
from laurel.kit.money import Money
from laurel.rewards.models import Reward, RewardState

TRANSIENT = (RewardState.pending, RewardState.ready, RewardState.issuing)
COMPLETION = "completion"


@dataclass(slots=True)
class Activity:
    """The overview's additive counts: parts from the rollups and from scans add up."""

    completions: int = 0
    rewards: dict[tuple[str, str], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0])
    )
    """(state, currency) → [rewards, amount in minor units]."""
    latency: Counter[int] = field(default_factory=Counter)
    """Milliseconds from event receipt to delivery → rewards."""

    def count(self, state: str, currency: str, n: int, amount: int) -> None:
        found = self.rewards[(state, currency)]
        found[0] += n
        found[1] += amount

    def add(self, other: Activity) -> None:
        self.completions += other.completions
        for (state, currency), (n, amount) in other.rewards.items():
            self.count(state, currency, n, amount)
        self.latency.update(other.latency)

    def overview(self) -> dict[str, Any]:
        """The report: spend is what was delivered; the latency percentiles are the values at
        the percentile's rank among the delivered rewards' latencies (to the millisecond)."""
        by_state: Counter[str] = Counter()
        spent: dict[str, int] = {}
        for (state, currency), (n, amount) in self.rewards.items():
            if n <= 0:
                continue  # rows every reward left (held, then approved)
            by_state[state] += n
            if state == RewardState.delivered:
                spent[currency] = spent.get(currency, 0) + amount
        histogram = sorted((ms, k) for ms, k in self.latency.items() if k > 0)
        total = sum(k for _, k in histogram)

        def percentile(q: float) -> float | None:
            if not total:
                return None
            rank, seen = min(total - 1, int(q * total)), 0
            for ms, k in histogram:
                seen += k
                if seen > rank:
                    return round(ms / 1000, 3)
            return None

        count = self.completions
        return {
            "completions": count,
            "rewards": dict(sorted(by_state.items())),
            "spend": [Money(m, c).to_json() for c, m in sorted(spent.items())],
            "cost_per_completion": [
                Money(round(m / count), c).to_json() for c, m in sorted(spent.items()) if count
            ],
            "delivery_latency_seconds": {"p50": percentile(0.5), "p95": percentile(0.95)},
        }


def in_states(session: Session, states: Sequence[str]) -> ColumnElement[bool]:
    """``Reward.state IN states``, for the few rewards in a transient state.

    On SQLite marked as rarely true (``likelihood`` 0.001): its statistics say only how many
    states there are, so it preferred the overview index over the window (a year of rewards)
    to the state index (the few transient ones)."""
    found = Reward.state.in_(list(states))
    if session.get_bind().dialect.name == "sqlite":
        # Untyped: a Boolean function would be compared with 1, hiding the term from the planner.
        rare: ColumnElement[bool] = func.likelihood(found, literal_column("0.001"))
        return rare
    return found


def broad(session: Session, condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """A manager's learner narrowing, marked ``likely`` on SQLite for the small parts a rollup
    reader scans (the first day's hours, the transient rewards): otherwise SQLite drove those
    scans from the department's learners, reading every event or reward of each."""
    if session.get_bind().dialect.name == "sqlite":
        common: ColumnElement[bool] = func.likely(condition)
        return common
    return condition


def _narrowed(model: Any, departments: frozenset[str] | None) -> list[Any]:
    return [] if departments is None else [model.department.in_(sorted(departments))]


def activity(
    session: Session,
    organization_id: uuid.UUID,
    livemode: bool,
    *,
    departments: frozenset[str] | None,
) -> Activity:
    """All time from the rollups (transient rewards not included: add them from a scan)."""
    found = Activity()
    for kind, currency, n, amount in session.execute(
        select(Daily.kind, Daily.currency, func.sum(Daily.n), func.sum(Daily.amount_minor))
        .where(
            Daily.organization_id == organization_id,
            Daily.livemode == livemode,
            *_narrowed(Daily, departments),
        )
        .group_by(Daily.kind, Daily.currency)
    ):
        if kind == COMPLETION:
            found.completions += int(n)
        else:
            found.count(kind, currency, int(n), int(amount))
    for ms, n in session.execute(
        select(Latency.latency_ms, func.sum(Latency.n))
        .where(
            Latency.organization_id == organization_id,
            Latency.livemode == livemode,
            *_narrowed(Latency, departments),
        )
        .group_by(Latency.latency_ms)
    ):
        found.latency[int(ms)] += int(n)
    return found


@dataclass(slots=True)
class Monthly:
    """Completions and rewards per ``YYYY-MM`` month: parts from the rollups and scans add."""

    completions: Counter[str] = field(default_factory=Counter)
    rewards: dict[tuple[str, str, str], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0])
    )
    """(month, state, currency) → [rewards, amount in minor units]."""

    def count(self, month: str, state: str, currency: str, n: int, amount: int) -> None:
        found = self.rewards[(month, state, currency)]
        found[0] += n
        found[1] += amount

    def add(self, other: Monthly) -> None:
        self.completions.update(other.completions)
        for (month, state, currency), (n, amount) in other.rewards.items():
            self.count(month, state, currency, n, amount)


def monthly(
    session: Session,
    organization_id: uuid.UUID,
    livemode: bool,
    *,
    first_day: str,
    departments: frozenset[str] | None,
) -> Monthly:
    """Completions and settled rewards per month from the day ``first_day`` (``YYYY-MM-DD``)
    on, from the rollup."""
    month = func.substr(Daily.day, 1, 7)
    found = Monthly()
    for label, kind, currency, n, amount in session.execute(
        select(month, Daily.kind, Daily.currency, func.sum(Daily.n), func.sum(Daily.amount_minor))
        .where(
            Daily.organization_id == organization_id,
            Daily.livemode == livemode,
            Daily.day >= first_day,
            *_narrowed(Daily, departments),
        )
        .group_by(month, Daily.kind, Daily.currency)
    ):
        if kind == COMPLETION:
            found.completions[label] += int(n)
        else:
            found.count(label, kind, currency, int(n), int(amount))
    return found


def _statements(dialect: str) -> list[str]:
    """The migrations' backfill (0028, on SQLite as 0029 corrected it) for one organization
    (``:org``)."""
    if dialect == "postgresql":
        event_day = "to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
        reward_day = "to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
        latency = "round(extract(epoch FROM r.delivered_at - r.event_received_at) * 1000)::bigint"
    else:
        event_day, reward_day = "substr(e.occurred_at, 1, 10)", "substr(r.created_at, 1, 10)"
        # Whole seconds of the truncated text: unixepoch() would round .9995 up (see periods).
        micros = (
            "((unixepoch(substr(r.delivered_at, 1, 19)) "
            "- unixepoch(substr(r.event_received_at, 1, 19))) * 1000000 "
            "+ CAST(substr(r.delivered_at, 21, 6) AS INTEGER) "
            "- CAST(substr(r.event_received_at, 21, 6) AS INTEGER))"
        )
        latency = (
            f"(CASE WHEN {micros} >= 0 THEN ({micros} + 500) / 1000 "
            f"ELSE -((500 - {micros}) / 1000) END)"
        )
    transient = ", ".join(f"'{s}'" for s in TRANSIENT)
    department = "coalesce(l.department, '')"
    # This module's constants only.
    return [
        "INSERT INTO analytics_daily "  # noqa: S608
        "(organization_id, livemode, day, kind, currency, department, n, amount_minor) "
        f"SELECT e.organization_id, e.livemode, {event_day}, '{COMPLETION}', '', {department}, "
        "count(*), 0 FROM completion_events e JOIN learners l ON l.id = e.learner_id "
        "WHERE e.organization_id = :org AND e.outcome IN ('completed', 'passed') "
        "GROUP BY 1, 2, 3, 4, 5, 6",
        "INSERT INTO analytics_daily "  # noqa: S608
        "(organization_id, livemode, day, kind, currency, department, n, amount_minor) "
        f"SELECT r.organization_id, r.livemode, {reward_day}, r.state, r.currency, {department}, "
        "count(*), sum(r.amount_minor) FROM rewards r JOIN learners l ON l.id = r.learner_id "
        f"WHERE r.organization_id = :org AND r.state NOT IN ({transient}) "
        "GROUP BY 1, 2, 3, 4, 5, 6",
        "INSERT INTO analytics_latency "  # noqa: S608
        "(organization_id, livemode, latency_ms, department, n) "
        f"SELECT r.organization_id, r.livemode, {latency}, {department}, count(*) "
        "FROM rewards r JOIN learners l ON l.id = r.learner_id "
        "WHERE r.organization_id = :org AND r.delivered_at IS NOT NULL "
        "GROUP BY 1, 2, 3, 4",
    ]


def rebuild(session: Session, organization_id: uuid.UUID) -> int:
    """Recompute one organization's daily rollups from its events and rewards; answers the
    rows written.

    For repair (rows written with the triggers disabled, a restored partial backup), while
    nothing else writes the organization's events and rewards: the triggers keep the rollups
    in step otherwise. Runs in the caller's transaction.
    """
    session.execute(delete(Daily).where(Daily.organization_id == organization_id))
    session.execute(delete(Latency).where(Latency.organization_id == organization_id))
    dialect = session.get_bind().dialect.name
    org = organization_id if dialect == "postgresql" else organization_id.hex
    written = 0
    for statement in _statements(dialect):
        result = session.execute(text(statement), {"org": org})
        written += int(getattr(result, "rowcount", 0) or 0)
    return written
