"""Read-only numbers the pages show that the analytics reports do not already give.

Everything is scoped by organization and mode; reward lists also by the caller's departments
or learner (``learners.visible_ids``), so a page shows what the API would.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from laurel.analytics import daily, periods, reports
from laurel.analytics import pairs as pairs_
from laurel.analytics.reports import NOT_SPENT
from laurel.events.models import CompletionEvent
from laurel.kit import currency as currencies
from laurel.kit.actor import Actor
from laurel.kit.money import Money
from laurel.learners import service as learners
from laurel.learners.models import Learner
from laurel.programs.models import Program
from laurel.rewards.models import Reward, RewardState

LIST_LIMIT = 200


def _visible(actor: Actor) -> list[ColumnElement[bool]]:
    """Conditions on ``Reward`` keeping a department manager or learner to their learners."""
    visible = learners.visible_ids(actor)
    return [] if visible is None else [Reward.learner_id.in_(visible)]


def _visible_events(actor: Actor) -> list[ColumnElement[bool]]:
    """The same narrowing on ``CompletionEvent``."""
    visible = learners.visible_ids(actor)
    return [] if visible is None else [CompletionEvent.learner_id.in_(visible)]


SERIES_PERIODS = ("month", "quarter", "year")


def _month(session: Session, column: Any) -> Any:
    """``YYYY-MM`` of a timestamp in UTC, computed by the database."""
    return periods.sql_label(session.get_bind().dialect.name, column, "month")


def _fold(month: str, period: str) -> str:
    """A ``YYYY-MM`` month as its label for ``period`` (the labels of ``period_of``)."""
    year, number = month.split("-")
    if period == "year":
        return year
    if period == "quarter":
        return f"{year}-Q{(int(number) - 1) // 3 + 1}"
    return month


def series(session: Session, actor: Actor, *, period: str, since: datetime) -> dict[str, Any]:
    """Completions, rewards and spend per period since ``since`` (for the chart and finance).

    The whole days from the first midnight at or after ``since`` come from the daily rollup
    (``analytics.daily``), with the rewards in a transient state added from the rewards; the
    part of ``since``'s own day before that midnight is scanned. The whole organization or a
    department manager; a caller narrowed to one learner scans (:func:`series_from_scan`).
    Spend is every reward not cancelled or failed (what is paid or committed).
    """
    if period not in SERIES_PERIODS:
        raise ValueError(f"period must be one of {SERIES_PERIODS}")
    narrowed = reports.narrowing(actor)
    visible, departments = narrowed["learners_in"], narrowed["departments"]
    if visible is not None and departments is None:
        return series_from_scan(session, actor, period=period, since=since)
    at = since.astimezone(UTC)
    midnight = datetime(at.year, at.month, at.day, tzinfo=UTC)
    if midnight < at:
        midnight += timedelta(days=1)
    found = daily.monthly(
        session,
        actor.organization_id,
        actor.livemode,
        first_day=midnight.date().isoformat(),
        departments=departments if visible is not None else None,
    )
    if midnight > at:
        found.add(_monthly_scan(session, actor, since=since, until=midnight))
    found.add(_monthly_scan(session, actor, since=midnight, states=daily.TRANSIENT, events=False))
    return _shaped(found, period)


def series_from_scan(
    session: Session, actor: Actor, *, period: str, since: datetime
) -> dict[str, Any]:
    """:func:`series` from the events and rewards themselves."""
    if period not in SERIES_PERIODS:
        raise ValueError(f"period must be one of {SERIES_PERIODS}")
    return _shaped(_monthly_scan(session, actor, since=since), period)


def _monthly_scan(
    session: Session,
    actor: Actor,
    *,
    since: datetime,
    until: datetime | None = None,
    states: Sequence[str] | None = None,
    events: bool = True,
) -> daily.Monthly:
    """Completions and rewards per UTC month from ``since`` (to ``until``), grouped by the
    database, so a year of a million events is a few dozen rows here."""
    found = daily.Monthly()

    def part(narrowing: list[ColumnElement[bool]]) -> list[ColumnElement[bool]]:
        """A manager's narrowing; for a rollup's small part (a day's hours, the transient
        rewards) one the database should not start from."""
        if until is None and states is None:
            return narrowing
        return [daily.broad(session, condition) for condition in narrowing]

    if events:
        month = _month(session, CompletionEvent.occurred_at)
        before = [] if until is None else [CompletionEvent.occurred_at < until]
        for label, n in session.execute(
            select(month, func.count())
            .where(
                CompletionEvent.organization_id == actor.organization_id,
                CompletionEvent.livemode == actor.livemode,
                CompletionEvent.outcome.in_(pairs_.COMPLETED),
                CompletionEvent.occurred_at >= since,
                *before,
                *part(_visible_events(actor)),
            )
            .group_by(month)
        ):
            found.completions[label] += int(n)
    month = _month(session, Reward.created_at)
    narrowed = [] if until is None else [Reward.created_at < until]
    if states is not None:
        narrowed.append(daily.in_states(session, states))
    for label, state, currency, n, total in session.execute(
        select(month, Reward.state, Reward.currency, func.count(), func.sum(Reward.amount_minor))
        .where(
            Reward.organization_id == actor.organization_id,
            Reward.livemode == actor.livemode,
            Reward.created_at >= since,
            *narrowed,
            *part(_visible(actor)),
        )
        .group_by(month, Reward.state, Reward.currency)
    ):
        found.count(label, str(state), currency, int(n), int(total or 0))
    return found


def _shaped(found: daily.Monthly, period: str) -> dict[str, Any]:
    completions: Counter[str] = Counter()
    for label, n in found.completions.items():
        if n:
            completions[_fold(label, period)] += n
    rewards: Counter[str] = Counter()
    spend: dict[str, Counter[str]] = defaultdict(Counter)
    for (label, state, currency), (n, total) in found.rewards.items():
        if n <= 0:
            continue  # rows every reward left (held, then approved)
        key = _fold(label, period)
        rewards[key] += n
        if state not in NOT_SPENT:
            spend[currency][key] += total
    labels = sorted(set(completions) | set(rewards))
    return {
        "labels": labels,
        "completions": [completions[x] for x in labels],
        "rewards": [rewards[x] for x in labels],
        "spend": {c: [by[x] for x in labels] for c, by in sorted(spend.items())},
        "exponents": {c: currencies.exponent(c) for c in spend},
    }


def rewards(
    session: Session,
    actor: Actor,
    *,
    state: str | None = None,
    program_id: uuid.UUID | None = None,
    learner: str | None = None,
    learner_id: uuid.UUID | None = None,
    hold_reason: str | None = None,
    limit: int = LIST_LIMIT,
) -> list[tuple[Reward, Learner]]:
    """Rewards newest first with their learners, filtered; ``learner`` is an external id or
    email. A hold reason implies the ``held`` state (reasons live in a JSON list)."""
    query = (
        select(Reward, Learner)
        .join(Learner, Learner.id == Reward.learner_id)
        .where(
            Reward.organization_id == actor.organization_id,
            Reward.livemode == actor.livemode,
            *_visible(actor),
        )
    )
    if hold_reason:
        state = RewardState.held
    if state:
        query = query.where(Reward.state == state)
    if program_id is not None:
        query = query.where(Reward.program_id == program_id)
    if learner_id is not None:
        query = query.where(Reward.learner_id == learner_id)
    if learner:
        query = query.where(learners.named(session, learner))
    # A hold reason is matched here (reasons live in a JSON list): read more rows for it. Any
    # other filter is the database's, so only the rows shown are read (no 1,000 ORM rows).
    wanted = limit * 5 if hold_reason else limit
    found: list[tuple[Reward, Learner]] = [
        (r, m) for r, m in session.execute(query.order_by(Reward.id.desc()).limit(wanted))
    ]
    if hold_reason:
        found = [
            (r, m) for r, m in found if any(h.get("reason") == hold_reason for h in r.hold_reasons)
        ]
    return found[:limit]


ACTIONS = {
    "approval_required": "approve or reject (finance)",
    "fcpa_review": "approve or reject (compliance)",
    "screening_review": "clear or confirm the screening case (compliance)",
    "screening_blocked": "unblock the learner if the match was wrong (compliance)",
    "budget_exhausted": "raise the budget or wait for the next window (finance)",
}


@dataclass(frozen=True, slots=True)
class HeldGroup:
    reason: str
    action: str
    items: list[tuple[Reward, Learner]]


def held_by_reason(session: Session, actor: Actor) -> list[HeldGroup]:
    groups: dict[str, list[tuple[Reward, Learner]]] = defaultdict(list)
    for reward, learner in rewards(session, actor, state=RewardState.held, limit=LIST_LIMIT):
        for reason in {str(h.get("reason", "unknown")) for h in reward.hold_reasons} or {"unknown"}:
            groups[reason].append((reward, learner))
    return [
        HeldGroup(reason, ACTIONS.get(reason, "resolve the hold, then recheck"), items)
        for reason, items in sorted(groups.items())
    ]


def team(session: Session, actor: Actor, limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
    """The learners the caller may see with their reward counts and spend."""
    people = list(
        session.scalars(
            select(Learner)
            .where(
                Learner.organization_id == actor.organization_id,
                Learner.livemode == actor.livemode,
                *learners.in_scope(actor),
            )
            .order_by(Learner.department, Learner.external_id)
            .limit(limit)
        )
    )
    ids = [p.id for p in people]
    counts: dict[uuid.UUID, int] = defaultdict(int)
    spent: dict[uuid.UUID, Counter[str]] = defaultdict(Counter)
    if ids:
        for learner_id, state, currency, n, total in session.execute(
            select(
                Reward.learner_id,
                Reward.state,
                Reward.currency,
                func.count(),
                func.sum(Reward.amount_minor),
            )
            .where(Reward.organization_id == actor.organization_id, Reward.learner_id.in_(ids))
            .group_by(Reward.learner_id, Reward.state, Reward.currency)
        ):
            counts[learner_id] += int(n)
            if state == RewardState.delivered:
                spent[learner_id][currency] += int(total or 0)
    return [{"learner": p, "rewards": counts[p.id], "delivered": dict(spent[p.id])} for p in people]


def program_keys(session: Session, actor: Actor) -> dict[uuid.UUID, str]:
    return dict(
        session.execute(
            select(Program.id, Program.key)
            .where(Program.organization_id == actor.organization_id)
            .order_by(Program.key)
        ).all()
    )


def decimal(minor: int, currency: str) -> str:
    """An amount as a plain decimal string for exports (``1234.50``)."""
    return Money(minor, currency).format_amount()
