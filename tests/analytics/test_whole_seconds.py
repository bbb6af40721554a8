"""The rollups count times just before a second ends (.999500 and later) as they are.

SQLite reads stored timestamps to the millisecond, rounding; migration 0029 re-created the
rollups' SQLite triggers and recounted their rows with whole seconds instead. Enrolments,
completions, receipts and deliveries here fall on the last second of months, of a year and of
a Sunday, with fractions on both sides of the rounding point, and durations whose two ends
straddle it. The rollups must equal what Python counts from the same rows (exact to the
microsecond) after inserts, after a round trip through 0028 with rows written under its
triggers, and after updates, moves and deletions under 0029's.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update

from laurel import migrate
from laurel.analytics import periods
from laurel.analytics.models import LearningPair
from laurel.courses.models import Course
from laurel.db import Database
from laurel.enrolments.models import Enrolment
from laurel.events.models import CompletionEvent
from laurel.learners.models import Learner
from laurel.rewards.models import Reward
from tests.analytics import test_daily, test_rollups
from tests.conftest import Tenant

FRACTIONS = (0, 999_499, 999_500, 999_600, 999_999)
TRANSIENT = ("pending", "ready", "issuing")


def _last_seconds() -> list[datetime]:
    """The last second of the three months before this one, of last year and of last week's
    Sunday: all in the past, so the overview's series windows hold them."""
    now = datetime.now(UTC)
    first = datetime(now.year, now.month, 1, tzinfo=UTC)
    ends = []
    for _ in range(3):
        ends.append(first - timedelta(seconds=1))
        first = ends[-1].replace(day=1, hour=0, minute=0, second=0)
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    monday = today - timedelta(days=today.weekday())
    year_end = datetime(now.year, 1, 1, tzinfo=UTC) - timedelta(seconds=1)
    return [*ends, year_end, monday - timedelta(seconds=1)]


# Five ends times five fractions: time i has fraction i % 5, and the time paired with it
# below takes fraction (i // 5 + i) % 5, so every pair of fractions occurs once.
TIMES = [end + timedelta(microseconds=f) for end in _last_seconds() for f in FRACTIONS]


def _after(start: datetime, i: int, whole: timedelta) -> datetime:
    """``whole`` after ``start``'s whole second, with the fraction paired with time ``i``."""
    return (
        start.replace(microsecond=0) + whole + timedelta(microseconds=FRACTIONS[(i // 5 + i) % 5])
    )


def _load(database: Database, tenant: Tenant, program: tuple[uuid.UUID, ...], tag: str) -> None:
    """One enrolment, completion and delivered reward per time of :data:`TIMES`: whole days to
    complete of 0 to 2 days (or a second less), latencies of 0 to 3 seconds."""
    program_id, version, rule, rule_version = program
    with database.session() as session:
        courses = [
            Course(organization_id=tenant.id, external_id=f"{tag}C{i}", title="C", type="elective")
            for i in range(2)
        ]
        people = [
            Learner(
                organization_id=tenant.id,
                livemode=True,
                external_id=f"{tag}L{i}",
                department=("Sales", None, "Legal")[i % 3],
                country=("US", None)[i % 2],
            )
            for i in range(len(TIMES) // 2 + 1)
        ]
        session.add_all([*courses, *people])
        session.flush()
        for i, when in enumerate(TIMES):
            person, course = people[i // 2], courses[i % 2]
            session.add(
                Enrolment(
                    organization_id=tenant.id,
                    livemode=True,
                    learner_id=person.id,
                    course_id=course.id,
                    enrolled_at=when,
                    source="api",
                )
            )
            took = timedelta(days=i % 3, seconds=-(i % 2))
            event = CompletionEvent(
                organization_id=tenant.id,
                livemode=True,
                source="test",
                source_event_id=f"{tag}{i}",
                body_hash="0" * 64,
                learner_id=person.id,
                course_id=course.id,
                outcome="passed",
                score=0.9,
                occurred_at=_after(when, i, took),
                received_at=when,
                payload={},
                decisions=[],
            )
            session.add(event)
            session.flush()
            session.add(
                Reward(
                    organization_id=tenant.id,
                    livemode=True,
                    program_id=program_id,
                    program_version_id=version,
                    rule_id=rule,
                    rule_version_id=rule_version,
                    learner_id=person.id,
                    course_id=course.id,
                    event_id=event.id,
                    dedupe_key=f"{tag}{i}",
                    amount_minor=500,
                    currency="USD",
                    reward_kind="gift_card",
                    provider="sandbox",
                    state="delivered",
                    event_received_at=when,
                    delivered_at=_after(when, i, timedelta(seconds=i % 4)),
                    created_at=when,
                )
            )
        session.flush()


def _micros(start: datetime, end: datetime) -> int:
    return (end - start) // timedelta(microseconds=1)


def _millis(start: datetime, end: datetime) -> int:
    """Half away from zero, as ``periods.sql_millis``."""
    micros = _micros(start, end)
    rounded = (abs(micros) + 500) // 1000
    return rounded if micros >= 0 else -rounded


def _course(dimension: str, value: str) -> str:
    """A course id reads the same from either database (SQLite keeps 32 hex digits)."""
    return str(uuid.UUID(value)) if dimension == "course" else value


def _counted(database: Database, tenant: Tenant) -> tuple[set[tuple[Any, ...]], ...]:
    """The rollups' rows (those with counts)."""
    cohorts = {
        (live, dimension, _course(dimension, value), *rest)
        for live, dimension, value, *rest in test_rollups._kept(database, tenant)
    }
    return (cohorts, *test_daily._kept(database, tenant))


def _expected(database: Database, tenant: Tenant) -> tuple[set[tuple[Any, ...]], ...]:
    """The rollups' rows counted in Python from the pairs, events and rewards."""
    cohorts: Counter[tuple[Any, ...]] = Counter()
    days: Counter[tuple[Any, ...]] = Counter()
    amounts: Counter[tuple[Any, ...]] = Counter()
    latencies: Counter[tuple[Any, ...]] = Counter()
    with database.session() as session:
        learners = {
            p.id: p
            for p in session.scalars(select(Learner).where(Learner.organization_id == tenant.id))
        }
        for pair in session.scalars(
            select(LearningPair).where(LearningPair.organization_id == tenant.id)
        ):
            person = learners[pair.learner_id]
            done = pair.completed_at
            whole_days = (
                -1 if done is None else max(0, _micros(pair.enrolled_at, done) // 86_400_000_000)
            )
            for dimension, value in (
                ("course", str(pair.course_id)),
                ("classification", person.classification or ""),
                ("country", person.country or ""),
            ):
                month = periods.label(pair.enrolled_at, "month")
                cohorts[
                    (pair.livemode, dimension, value, person.department or "", month, whole_days)
                ] += 1
        for event in session.scalars(
            select(CompletionEvent).where(
                CompletionEvent.organization_id == tenant.id,
                CompletionEvent.outcome.in_(("passed", "completed")),
            )
        ):
            department = learners[event.learner_id].department or ""
            day = event.occurred_at.date().isoformat()
            days[(event.livemode, day, "completion", "", department)] += 1
        for reward in session.scalars(select(Reward).where(Reward.organization_id == tenant.id)):
            department = learners[reward.learner_id].department or ""
            if reward.state not in TRANSIENT:
                key = (
                    reward.livemode,
                    reward.created_at.date().isoformat(),
                    str(reward.state),
                    reward.currency,
                    department,
                )
                days[key] += 1
                amounts[key] += reward.amount_minor
            if reward.delivered_at is not None:
                latency = _millis(reward.event_received_at, reward.delivered_at)
                latencies[(reward.livemode, latency, department)] += 1
    return (
        {(*key, n) for key, n in cohorts.items()},
        {(*key, n, amounts[key]) for key, n in days.items()},
        {(*key, n) for key, n in latencies.items()},
    )


def test_times_at_the_rounding_point_are_counted_exactly_through_0029(
    client: Any, database: Database, tenant: Tenant
) -> None:
    program = test_daily._program(client, database, tenant)
    _load(database, tenant, program, "A")
    expected = _expected(database, tenant)
    assert len(expected[0]) > 30
    assert len(expected[2]) > 10
    assert _counted(database, tenant) == expected

    # 0028's triggers and backfill, as released: on SQLite some durations are a second off.
    migrate.downgrade(database, "0028")
    if database.dialect == "sqlite":
        assert _counted(database, tenant) != expected
    else:
        assert _counted(database, tenant) == expected
    _load(database, tenant, program, "B")  # written under 0028's triggers

    migrate.upgrade(database, "head")  # 0029 recounts from the rows
    assert _counted(database, tenant) == _expected(database, tenant)

    # 0029's triggers on changes: enrolments and deliveries moved across the rounding point,
    # learners moved, rows deleted.
    with database.session() as session:
        enrolments = list(
            session.scalars(
                select(Enrolment)
                .where(Enrolment.organization_id == tenant.id)
                .order_by(Enrolment.id)
            )
        )
        for i, enrolment in enumerate(enrolments[::4]):
            enrolment.enrolled_at = TIMES[(i * 7 + 2) % len(TIMES)]
        rewards = list(
            session.scalars(
                select(Reward).where(Reward.organization_id == tenant.id).order_by(Reward.id)
            )
        )
        for i, reward in enumerate(rewards[::3]):
            reward.delivered_at = _after(reward.event_received_at, i + 1, timedelta(seconds=2))
        for i, person in enumerate(
            session.scalars(select(Learner).where(Learner.organization_id == tenant.id))
        ):
            if i % 4 == 0:
                person.department = "Engineering"
        session.flush()
        session.execute(delete(Reward).where(Reward.id.in_([r.id for r in rewards[1::5]])))
        session.execute(
            update(Reward)
            .where(Reward.id.in_([r.id for r in rewards[2::5]]))
            .values(state="cancelled")
        )
    assert _counted(database, tenant) == _expected(database, tenant)
    # And the reports read from the rollups equal the scans, which a rebuild reproduces.
    assert test_rollups._check(database, tenant) > 50
    test_daily._check(database, tenant)
