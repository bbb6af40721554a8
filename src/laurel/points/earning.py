"""Earning: a points program's reward becomes points in the learner's wallet.

What a completion is worth comes from the program's own reward rules (currency ``PTS``): rules
per course, course type, tag (learning-path milestones are tagged courses), outcome and
minimum score (assessments). The program's points policy then applies, at crediting time:

- multipliers: priority courses, types or tags, and time windows; every matching one applies;
- caps per ISO week, calendar month or year, on what the learner earns in the program;
- a streak bonus for consecutive ISO weeks with a completion;
- the expiry period of the points earned.

Crediting is idempotent by the reward (transaction key ``reward:<id>``), so the worker's retries
and its crash recovery never credit twice. Intake is untouched: the reward is created
set-based like any other and the ``points`` provider credits it when the worker delivers it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.courses import service as courses
from laurel.events import service as events
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import Invalid, NotFound, field_error
from laurel.kit.ids import uuid7
from laurel.kit.sql import insert_ignore
from laurel.points import ledger
from laurel.points.expiry import add_months
from laurel.points.models import PointsPolicy, StreakState, TransactionKind
from laurel.rewards import service as rewards
from laurel.rewards.models import Reward

CAP_PERIODS = ("week", "month", "year")


class PolicyNotFound(NotFound):
    code = "points_policy_not_found"


# ---------------------------------------------------------------- policies


def validate_policy(data: dict[str, Any]) -> dict[str, Any]:
    """Check a policy's shape; every bad field is named. Answers the normalised policy."""
    problems: list[dict[str, str]] = []

    def bad(field: str, message: str) -> None:
        problems.append({"field": field, "message": message, "type": "value_error"})

    multipliers = data.get("multipliers") or []
    for n, m in enumerate(multipliers):
        try:
            factor = Decimal(str(m.get("factor")))
            if not Decimal("0") < factor <= Decimal("10"):
                bad(f"multipliers[{n}].factor", "must be above 0 and at most 10")
        except InvalidOperation:
            bad(f"multipliers[{n}].factor", 'must be a decimal string such as "1.5"')
        for end in ("starts_at", "ends_at"):
            if m.get(end) is not None:
                try:
                    when = datetime.fromisoformat(str(m[end]))
                    if when.tzinfo is None:
                        bad(f"multipliers[{n}].{end}", "needs a timezone (e.g. Z)")
                except ValueError:
                    bad(f"multipliers[{n}].{end}", "is not an ISO 8601 date-time")
    caps = data.get("caps") or {}
    for period, value in caps.items():
        if period not in CAP_PERIODS:
            bad(f"caps.{period}", f"unknown period; use {', '.join(CAP_PERIODS)}")
        elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
            bad(f"caps.{period}", "must be a whole number of points, 0 or more")
    streak = data.get("streak") or {}
    for name in ("min_weeks", "bonus", "max_bonus"):
        value = streak.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            bad(f"streak.{name}", "must be a whole number, 0 or more")
    months = data.get("expiry_months")
    if months is not None and (
        isinstance(months, bool) or not isinstance(months, int) or months < 1
    ):
        bad("expiry_months", "must be a whole number of months, 1 or more (or null: never)")
    days = data.get("notice_days", 30)
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 365:
        bad("notice_days", "must be between 0 and 365")
    if problems:
        raise Invalid(problems)
    return {
        "multipliers": multipliers,
        "caps": caps,
        "streak": streak,
        "expiry_months": months,
        "notice_days": days,
    }


def set_policy(
    session: Session, actor: Actor, program_id: uuid.UUID, data: dict[str, Any]
) -> PointsPolicy:
    """Create or replace a points program's policy (audited)."""
    from laurel.programs import service as programs  # noqa: PLC0415 - avoids an import cycle

    view = programs.get(session, actor, program_id)
    if view.version.currency != "PTS":
        raise field_error("program_id", "is not a points program (currency PTS)")
    fields = validate_policy(data)
    policy = session.scalar(
        select(PointsPolicy).where(
            PointsPolicy.organization_id == actor.organization_id,
            PointsPolicy.program_id == program_id,
        )
    )
    if policy is None:
        policy = PointsPolicy(organization_id=actor.organization_id, program_id=program_id)
        session.add(policy)
    for name, value in fields.items():
        setattr(policy, name, value)
    policy.updated_at = utcnow()
    policy.updated_by = actor.name
    session.flush()
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="points:policy:set",
        target_type="program",
        target_id=program_id,
        details=fields,
    )
    return policy


def get_policy(
    session: Session, organization_id: uuid.UUID, program_id: uuid.UUID
) -> PointsPolicy | None:
    return session.scalar(
        select(PointsPolicy).where(
            PointsPolicy.organization_id == organization_id,
            PointsPolicy.program_id == program_id,
        )
    )


# ---------------------------------------------------------------- valuing


@dataclass(frozen=True, slots=True)
class Activity:
    course_external_id: str
    course_type: str
    course_tags: tuple[str, ...]
    occurred_at: datetime


def multiplier(policy: PointsPolicy | None, activity: Activity) -> tuple[Decimal, list[str]]:
    """The product of every matching multiplier, and their names (for the record)."""
    factor = Decimal(1)
    applied: list[str] = []
    for m in policy.multipliers if policy else []:
        courses_ = m.get("courses") or []
        types = m.get("course_types") or []
        tags = m.get("tags") or []
        targeted = bool(courses_ or types or tags)
        hit = (
            activity.course_external_id in courses_
            or activity.course_type in types
            or bool(set(tags) & set(activity.course_tags))
        )
        if targeted and not hit:
            continue
        starts = m.get("starts_at")
        ends = m.get("ends_at")
        if starts and activity.occurred_at < datetime.fromisoformat(starts):
            continue
        if ends and activity.occurred_at >= datetime.fromisoformat(ends):
            continue
        factor *= Decimal(str(m["factor"]))
        applied.append(str(m.get("name") or f"x{m['factor']}"))
    return factor, applied


def period_bounds(period: str, when: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the ISO week, calendar month or year containing ``when`` (UTC)."""
    day = when.astimezone(UTC).date()
    if period == "week":
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
    elif period == "month":
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    else:
        start = day.replace(month=1, day=1)
        end = start.replace(year=start.year + 1)
    return (
        datetime(start.year, start.month, start.day, tzinfo=UTC),
        datetime(end.year, end.month, end.day, tzinfo=UTC),
    )


def monday_of(when: datetime) -> date:
    day = when.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


# ---------------------------------------------------------------- crediting


@dataclass(frozen=True, slots=True)
class Credited:
    posting: ledger.Posting
    bonus: ledger.Posting | None
    points: int
    """Points credited for the completion (after multipliers and caps), without the bonus."""


def credit_reward(session: Session, reward_id: uuid.UUID, *, actor: str = "worker") -> Credited:
    """Credit a points program's reward to its learner's wallet (idempotent by reward)."""
    reward = rewards.by_id(session, reward_id)
    if reward is None or reward.currency != "PTS" or reward.event_id is None:
        raise NotFound(f"no points reward {reward_id}")
    scope = ledger.Scope(reward.organization_id, reward.livemode)
    key = f"reward:{reward.id}"
    # Two of the learner's rewards credited at once (the worker issues in parallel) must not
    # both fit under a cap that has room for one: hold the wallet, then look for a credit.
    ledger.hold_wallet(session, scope, reward.learner_id)
    done = _transaction_by_key(session, scope, key)
    if done is not None:
        return Credited(ledger.Posting(done, True), None, done.points)
    activity = _activity(session, reward)
    policy = get_policy(session, reward.organization_id, reward.program_id)
    factor, applied = multiplier(policy, activity)
    valued = int((Decimal(reward.amount_minor) * factor).quantize(Decimal(1), ROUND_HALF_UP))
    points, capped = _capped(session, scope, reward, policy, activity, valued)
    expires_at = (
        add_months(activity.occurred_at, policy.expiry_months)
        if policy and policy.expiry_months
        else None
    )
    posting = ledger.post(
        session,
        scope,
        key=key,
        kind=TransactionKind.earn,
        legs=[
            (ledger.liability(reward.program_id), -points),
            (ledger.wallet(reward.learner_id), points),
        ],
        actor=actor,
        program_id=reward.program_id,
        reward_id=reward.id,
        memo=f"completed {activity.course_external_id}",
        details={
            "base": reward.amount_minor,
            "factor": str(factor),
            "multipliers": applied,
            "valued": valued,
            "capped": capped,
            "course": activity.course_external_id,
        },
        occurred_at=activity.occurred_at,
        expires_at=expires_at,
    )
    if posting.replayed:  # credited meanwhile by another call: its streak and badges too
        return Credited(posting, None, posting.transaction.points)
    bonus = _streak(session, scope, reward, policy, activity, expires_at, actor)
    from laurel.points import badges  # noqa: PLC0415 - badges read earning's helpers

    badges.evaluate(session, scope, [reward.learner_id], actor=actor)
    return Credited(posting, bonus, points)


def _transaction_by_key(session: Session, scope: ledger.Scope, key: str) -> Any:
    from laurel.points.models import PointsTransaction  # noqa: PLC0415

    return session.scalar(
        select(PointsTransaction).where(
            PointsTransaction.organization_id == scope.organization_id,
            PointsTransaction.livemode == scope.livemode,
            PointsTransaction.key == key,
        )
    )


def _activity(session: Session, reward: Reward) -> Activity:
    assert reward.event_id is not None
    assert reward.course_id is not None
    found = events.completions_of(
        session, reward.organization_id, livemode=reward.livemode, event_ids=[reward.event_id]
    )
    course = courses.get_many(session, reward.organization_id, {reward.course_id})[reward.course_id]
    occurred = found[0].occurred_at if found else reward.created_at
    return Activity(course.external_id, course.type, tuple(course.tags or ()), occurred)


def _capped(
    session: Session,
    scope: ledger.Scope,
    reward: Reward,
    policy: PointsPolicy | None,
    activity: Activity,
    points: int,
) -> tuple[int, str | None]:
    """The points left under the tightest cap, and which cap cut them (None: none did)."""
    capped_by = None
    for period in CAP_PERIODS:
        cap = (policy.caps if policy else {}).get(period)
        if cap is None:
            continue
        start, end = period_bounds(period, activity.occurred_at)
        earned = ledger.earned_between(
            session, scope, reward.learner_id, reward.program_id, start, end
        )
        room = max(0, cap - earned)
        if room < points:
            points, capped_by = room, period
    return points, capped_by


def _streak(
    session: Session,
    scope: ledger.Scope,
    reward: Reward,
    policy: PointsPolicy | None,
    activity: Activity,
    expires_at: datetime | None,
    actor: str,
) -> ledger.Posting | None:
    """Advance the learner's streak of consecutive ISO weeks; post the bonus it earns."""
    week = monday_of(activity.occurred_at)
    slot = {
        "organization_id": scope.organization_id,
        "livemode": scope.livemode,
        "learner_id": reward.learner_id,
        "program_id": reward.program_id,
    }
    if insert_ignore(
        session,
        StreakState.__table__,  # type: ignore[arg-type]
        {"id": uuid7(), **slot, "last_week": week, "weeks": 1, "created_at": utcnow()},
        list(slot),
    ):
        weeks = 1
    else:
        query = select(StreakState).filter_by(**slot)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        state = session.scalars(query).one()
        if week == state.last_week + timedelta(days=7):
            state.weeks, state.last_week = state.weeks + 1, week
        elif week > state.last_week + timedelta(days=7):
            state.weeks, state.last_week = 1, week
        else:
            return None  # the same week again, or a late event for an earlier week
        weeks = state.weeks
        session.flush()
    rule = policy.streak if policy else {}
    bonus_each = int(rule.get("bonus") or 0)
    min_weeks = int(rule.get("min_weeks") or 2)
    if not bonus_each or weeks < min_weeks:
        return None
    bonus = bonus_each * (weeks - min_weeks + 1)
    if rule.get("max_bonus"):
        bonus = min(bonus, int(rule["max_bonus"]))
    return ledger.post(
        session,
        scope,
        key=f"streak:{reward.program_id}:{reward.learner_id}:{week.isoformat()}",
        kind=TransactionKind.bonus,
        legs=[
            (ledger.liability(reward.program_id), -bonus),
            (ledger.wallet(reward.learner_id), bonus),
        ],
        actor=actor,
        program_id=reward.program_id,
        reward_id=reward.id,
        memo=f"{weeks}-week streak",
        details={"weeks": weeks, "week": week.isoformat()},
        occurred_at=activity.occurred_at,
        expires_at=expires_at,
    )
