"""The rollup the completion rates read, checked against the pair scan on a varied data set.

Learners with and without departments, classifications and countries; enrolments and events
at random times to the microsecond, on month and day boundaries, completions before their
enrolment and without one, failures and repeated passes, a test-mode copy. Every report the
rollup answers must equal the pair scan's, for the whole organization and for department
managers, before and after learners move and rows are updated and deleted; and the rollup
the triggers keep must equal one rebuilt from the pairs.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from laurel.analytics import pairs, reports, rollups
from laurel.analytics.models import Cohort
from laurel.analytics.pairs import scope_learners
from laurel.courses.models import Course
from laurel.db import Database
from laurel.enrolments.models import Enrolment
from laurel.events.models import CompletionEvent
from laurel.learners.models import Learner
from tests.cli.test_commands import laurel
from tests.conftest import Tenant

DEPARTMENTS = ("Sales", "Engineering", "Legal", None, "")
CLASSIFICATIONS = ("employee", "contractor", "customer")
COUNTRIES = ("US", "DE", None)
OUTCOMES = ("passed", "completed", "failed", "in_progress")
START = datetime(2025, 10, 1, tzinfo=UTC)
SCOPES: list[frozenset[str] | None] = [None, frozenset({"Sales"}), frozenset({"Legal", "Sales"})]
WINDOWS = [
    (None, None),
    (datetime(2025, 11, 1, tzinfo=UTC), None),
    (datetime(2025, 11, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)),
]
OFF_MONTHS = (datetime(2025, 11, 17, 6, tzinfo=UTC), datetime(2026, 2, 3, 12, tzinfo=UTC))


def _when(rng: random.Random) -> datetime:
    """Anywhere in five months, sometimes exactly on a month's or a day's first instant."""
    pick = rng.random()
    if pick < 0.1:
        return datetime(2025, rng.randint(10, 12), 1, tzinfo=UTC)
    base = START + timedelta(days=rng.randrange(150))
    if pick < 0.2:
        return base
    return base + timedelta(seconds=rng.randrange(86_400), microseconds=rng.randrange(1_000_000))


def _load(database: Database, tenant: Tenant, seed: int = 11) -> None:
    rng = random.Random(seed)
    with database.session() as session:
        courses = []
        for i, kind in enumerate(("compliance", "elective", "compliance", "leadership")):
            course = Course(
                organization_id=tenant.id, external_id=f"C{i}", title=f"C{i}", type=kind
            )
            session.add(course)
            courses.append(course)
        session.flush()
        for livemode, n in ((True, 40), (False, 6)):
            people = []
            for i in range(n):
                person = Learner(
                    organization_id=tenant.id,
                    livemode=livemode,
                    external_id=f"L{i}",
                    department=DEPARTMENTS[i % len(DEPARTMENTS)],
                    classification=CLASSIFICATIONS[i % len(CLASSIFICATIONS)],
                    country=COUNTRIES[(i // 2) % len(COUNTRIES)],
                )
                session.add(person)
                people.append(person)
            session.flush()
            enrolled: dict[tuple[uuid.UUID, uuid.UUID], datetime] = {}
            for person in people:
                for course in rng.sample(courses, 3):
                    when = _when(rng)
                    enrolled[(person.id, course.id)] = when
                    session.add(
                        Enrolment(
                            organization_id=tenant.id,
                            livemode=livemode,
                            learner_id=person.id,
                            course_id=course.id,
                            enrolled_at=when,
                            source="api",
                        )
                    )
            session.flush()
            keys = list(enrolled)
            for i in range(n * 5):
                if rng.random() < 0.15:
                    learner_id, course_id = rng.choice(people).id, rng.choice(courses).id
                    occurred = _when(rng)
                else:
                    learner_id, course_id = rng.choice(keys)
                    # Sometimes before the enrolment; sometimes whole days after it.
                    offset = timedelta(hours=rng.randint(-30, 60 * 24))
                    if rng.random() < 0.2:
                        offset = timedelta(days=rng.randint(0, 40))
                    occurred = enrolled[(learner_id, course_id)] + offset
                session.add(
                    CompletionEvent(
                        organization_id=tenant.id,
                        livemode=livemode,
                        source="test",
                        source_event_id=f"{livemode}-{i}",
                        body_hash="0" * 64,
                        learner_id=learner_id,
                        course_id=course_id,
                        outcome=rng.choice(OUTCOMES),
                        score=0.9,
                        occurred_at=occurred,
                        received_at=occurred,
                        payload={},
                        decisions=[],
                    )
                )
            session.flush()


def _kept(database: Database, tenant: Tenant) -> set[tuple[Any, ...]]:
    with database.session() as session:
        return {
            tuple(row)
            for row in session.execute(
                select(
                    Cohort.livemode,
                    Cohort.dimension,
                    Cohort.value,
                    Cohort.department,
                    Cohort.month,
                    Cohort.days,
                    Cohort.pairs,
                ).where(Cohort.organization_id == tenant.id, Cohort.pairs != 0)
            )
        }


def _check(database: Database, tenant: Tenant) -> int:
    """Every report the rollup answers equals the pair scan's; answers the rows compared."""
    compared = 0
    with database.session() as session:
        for livemode in (True, False):
            for departments in SCOPES:
                people = (
                    None
                    if departments is None
                    else scope_learners(tenant.id, [Learner.department.in_(sorted(departments))])
                )
                for by in reports.DIMENSIONS:
                    for period in rollups.MONTHLY:
                        for start, end in WINDOWS:
                            assert rollups.answers(period, start, end)
                            args: dict[str, Any] = {
                                "by": by,
                                "period": period,
                                "start": start,
                                "end": end,
                                "learners_in": people,
                            }
                            read = reports.completion_rates(
                                session, tenant.id, livemode, departments=departments, **args
                            )
                            scanned = reports.completion_rates_from_pairs(
                                session, tenant.id, livemode, **args
                            )
                            assert read == scanned, (livemode, departments, by, period, start)
                            compared += len(read)
                    # What the rollups cannot answer is counted from the pairs: the same as
                    # numbering them, for ISO weeks and windows off month bounds too.
                    for period in reports.PERIODS:
                        for start, end in [*WINDOWS, OFF_MONTHS]:
                            args = {"by": by, "period": period, "start": start, "end": end}
                            counted = reports.completion_rates_from_counts(
                                session, tenant.id, livemode, learners_in=people, **args
                            )
                            scanned = reports.completion_rates_from_pairs(
                                session, tenant.id, livemode, learners_in=people, **args
                            )
                            assert counted == scanned, (livemode, departments, by, period, start)
                            compared += len(counted)
    # The pairs the triggers kept are the pairs grouped from the enrolments and events (many
    # events of one pair arrive in one multi-row INSERT here, as in a batch).
    with database.session() as session:
        for livemode in (True, False):
            kept_pairs = {
                tuple(r) for r in session.execute(select(pairs.subquery(tenant.id, livemode)))
            }
            grouped = {
                tuple(r) for r in session.execute(select(pairs.from_sources(tenant.id, livemode)))
            }
            assert kept_pairs == grouped, livemode
    # What the triggers kept is what a rebuild from the pairs writes.
    kept = _kept(database, tenant)
    with database.session() as session:
        rollups.rebuild(session, tenant.id)
    assert _kept(database, tenant) == kept
    return compared


def test_the_rollup_answers_what_the_pairs_answer(database: Database, tenant: Tenant) -> None:
    _load(database, tenant)
    assert _check(database, tenant) > 500
    # People move between departments, classifications and countries (and to none).
    with database.session() as session:
        moved = list(
            session.scalars(
                select(Learner).where(Learner.organization_id == tenant.id).order_by(Learner.id)
            )
        )
        for i, person in enumerate(moved[::3]):
            person.department = DEPARTMENTS[(i + 1) % len(DEPARTMENTS)]
            person.classification = CLASSIFICATIONS[(i + 2) % len(CLASSIFICATIONS)]
            person.country = COUNTRIES[i % len(COUNTRIES)]
    assert _check(database, tenant) > 500
    # Enrolments moved back and removed, completions removed (as erasure does).
    with database.session() as session:
        some = select(Enrolment.id).where(Enrolment.organization_id == tenant.id).limit(30)
        session.execute(
            update(Enrolment)
            .where(Enrolment.id.in_(some))
            .values(enrolled_at=datetime(2025, 9, 30, 23, 59, 59, tzinfo=UTC))
        )
        gone = select(Enrolment.id).where(Enrolment.organization_id == tenant.id).limit(15)
        session.execute(delete(Enrolment).where(Enrolment.id.in_(gone)))
        events = (
            select(CompletionEvent.id)
            .where(CompletionEvent.organization_id == tenant.id)
            .order_by(CompletionEvent.occurred_at)
            .limit(60)
        )
        session.execute(delete(CompletionEvent).where(CompletionEvent.id.in_(events)))
    assert _check(database, tenant) > 500


@pytest.mark.parametrize(
    ("period", "start", "answered"),
    [
        ("month", None, True),
        ("week", None, False),
        ("all", datetime(2026, 3, 1, tzinfo=UTC), True),
        ("all", datetime(2026, 3, 2, tzinfo=UTC), False),
        ("year", datetime(2026, 3, 1, 0, 0, 1, tzinfo=UTC), False),
    ],
)
def test_weeks_and_windows_off_month_bounds_scan_the_pairs(
    period: str, start: datetime | None, answered: bool
) -> None:
    assert rollups.answers(period, start, None) is answered


def test_laurel_analytics_rebuild_restores_a_lost_rollup(
    database: Database, tenant: Tenant
) -> None:
    _load(database, tenant, seed=5)
    kept = _kept(database, tenant)
    assert kept
    with database.session() as session:
        session.execute(delete(Cohort).where(Cohort.organization_id == tenant.id))
    url = database.engine.url.render_as_string(hide_password=False)
    done = laurel("analytics", "rebuild", "--org", tenant.slug, url=url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{tenant.slug}: ")
    assert _kept(database, tenant) == kept
    missing = laurel("analytics", "rebuild", "--org", "nobody", url=url)
    assert missing.returncode == 2
    assert "no organization 'nobody'" in missing.stderr
