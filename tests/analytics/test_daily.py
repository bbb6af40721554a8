"""The daily rollups the overview and finance read, checked against the scans on varied data.

Learners with and without departments; completion events of every outcome at random times to
the microsecond, some on a day's first instant; rewards in every state, in two currencies,
with event→delivery latencies that fall on half milliseconds, a test-mode copy. The overview
and the monthly series from the rollups must equal the scans, for the whole organization and
for department managers, before and after rewards move through their states (one by one and
in bulk), learners change department and rows are deleted; and what the triggers kept must
equal a rebuild.
"""

from __future__ import annotations

import random
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from laurel.analytics import daily, reports
from laurel.analytics.models import Daily, Latency
from laurel.courses.models import Course
from laurel.dashboard import queries
from laurel.db import Database
from laurel.events.models import CompletionEvent
from laurel.kit.actor import Actor
from laurel.learners.models import Learner
from laurel.programs.models import ProgramVersion, RewardRule, RewardRuleVersion
from laurel.rewards.models import Reward, RewardState
from tests.cli.test_commands import laurel
from tests.conftest import Tenant
from tests.factories import fixed_program

DEPARTMENTS = ("Sales", "Engineering", "Legal", None, "")
OUTCOMES = ("passed", "completed", "failed", "in_progress")
STATES = tuple(RewardState)
NOW = datetime.now(UTC)
SCOPES: list[frozenset[str] | None] = [None, frozenset({"Sales"}), frozenset({"Legal", "Sales"})]
SINCES = [
    NOW - timedelta(days=400),
    NOW - timedelta(days=90, hours=5),
    datetime(NOW.year, NOW.month, NOW.day, tzinfo=UTC) - timedelta(days=30),
]


def _when(rng: random.Random) -> datetime:
    """Anywhere in the last 300 days, sometimes exactly on a day's first instant."""
    base = NOW - timedelta(days=rng.randrange(300))
    if rng.random() < 0.15:
        return datetime(base.year, base.month, base.day, tzinfo=UTC)
    return base - timedelta(seconds=rng.randrange(86_400), microseconds=rng.randrange(10**6))


def _program(client: Any, database: Database, tenant: Tenant) -> tuple[uuid.UUID, ...]:
    program = uuid.UUID(fixed_program(client, tenant)["id"])
    with database.session() as session:
        version = session.scalar(
            select(ProgramVersion.id).where(ProgramVersion.program_id == program)
        )
        rule = session.scalar(select(RewardRule.id).where(RewardRule.program_id == program))
        rule_version = session.scalar(
            select(RewardRuleVersion.id).where(RewardRuleVersion.rule_id == rule)
        )
    assert version is not None
    assert rule is not None
    assert rule_version is not None
    return program, version, rule, rule_version


def _load(client: Any, database: Database, tenant: Tenant, seed: int = 3) -> None:
    rng = random.Random(seed)
    program, version, rule, rule_version = _program(client, database, tenant)
    with database.session() as session:
        courses = [
            Course(organization_id=tenant.id, external_id=f"C{i}", title=f"C{i}", type="elective")
            for i in range(3)
        ]
        session.add_all(courses)
        session.flush()
        for livemode, n in ((True, 30), (False, 5)):
            people = [
                Learner(
                    organization_id=tenant.id,
                    livemode=livemode,
                    external_id=f"L{i}",
                    department=DEPARTMENTS[i % len(DEPARTMENTS)],
                )
                for i in range(n)
            ]
            session.add_all(people)
            session.flush()
            for i in range(n * 8):
                person, course = rng.choice(people), rng.choice(courses)
                occurred = _when(rng)
                received = occurred + timedelta(seconds=rng.randrange(100))
                event = CompletionEvent(
                    organization_id=tenant.id,
                    livemode=livemode,
                    source="test",
                    source_event_id=f"{livemode}-{i}",
                    body_hash="0" * 64,
                    learner_id=person.id,
                    course_id=course.id,
                    outcome=rng.choice(OUTCOMES),
                    score=0.9,
                    occurred_at=occurred,
                    received_at=received,
                    payload={},
                    decisions=[],
                )
                session.add(event)
                if event.outcome not in ("passed", "completed"):
                    continue
                session.flush()
                state = rng.choice(STATES)
                # Latencies to the microsecond, often on half a millisecond (rounding).
                latency = timedelta(
                    seconds=rng.randrange(5), microseconds=rng.choice((500, 1500, 0)) + 1000 * i
                )
                delivered = state in ("delivered", "redeemed", "expired") or rng.random() < 0.05
                session.add(
                    Reward(
                        organization_id=tenant.id,
                        livemode=livemode,
                        program_id=program,
                        program_version_id=version,
                        rule_id=rule,
                        rule_version_id=rule_version,
                        learner_id=person.id,
                        course_id=course.id,
                        event_id=event.id,
                        dedupe_key=str(i),
                        amount_minor=rng.choice((500, 2500, 1234)),
                        currency=rng.choice(("USD", "EUR")),
                        reward_kind="gift_card",
                        provider="sandbox",
                        state=state,
                        event_received_at=received,
                        delivered_at=received + latency if delivered else None,
                        created_at=received if rng.random() < 0.9 else _when(rng),
                    )
                )
            session.flush()


def _actors(tenant: Tenant) -> list[Actor]:
    return [
        Actor(name="t", organization_id=tenant.id, livemode=livemode, departments=scope)
        for livemode in (True, False)
        for scope in SCOPES
    ]


def _check(database: Database, tenant: Tenant) -> None:
    """Every overview and series the rollups answer equals the scan's."""
    with database.session() as session:
        for actor in _actors(tenant):
            narrowed = reports.narrowing(actor)
            read = reports.overview(
                session, tenant.id, actor.livemode, start=None, end=None, **narrowed
            )
            scanned = reports.overview_from_scan(
                session,
                tenant.id,
                actor.livemode,
                start=None,
                end=None,
                learners_in=narrowed["learners_in"],
            )
            assert read == scanned, actor
            for since in SINCES:
                for period in queries.SERIES_PERIODS:
                    args: dict[str, Any] = {"period": period, "since": since}
                    assert queries.series(session, actor, **args) == queries.series_from_scan(
                        session, actor, **args
                    ), (actor, since, period)
    # What the triggers kept is what a rebuild writes.
    kept = _kept(database, tenant)
    with database.session() as session:
        daily.rebuild(session, tenant.id)
    assert _kept(database, tenant) == kept


def _kept(database: Database, tenant: Tenant) -> tuple[set[tuple[Any, ...]], ...]:
    with database.session() as session:
        days = {
            tuple(row)
            for row in session.execute(
                select(
                    Daily.livemode,
                    Daily.day,
                    Daily.kind,
                    Daily.currency,
                    Daily.department,
                    Daily.n,
                    Daily.amount_minor,
                ).where(Daily.organization_id == tenant.id, Daily.n != 0)
            )
        }
        latencies = {
            tuple(row)
            for row in session.execute(
                select(Latency.livemode, Latency.latency_ms, Latency.department, Latency.n).where(
                    Latency.organization_id == tenant.id, Latency.n != 0
                )
            )
        }
    return days, latencies


def test_the_daily_rollups_answer_what_the_scans_answer(
    client: Any, database: Database, tenant: Tenant
) -> None:
    _load(client, database, tenant)
    with database.session() as session:
        found = reports.overview(session, tenant.id, True, start=None, end=None)
    assert found["completions"] > 50
    assert found["delivery_latency_seconds"]["p50"] is not None
    _check(database, tenant)
    # Rewards move, one by one and in bulk, as the gates, approvals and the worker move them.
    with database.session() as session:
        ids = list(
            session.scalars(
                select(Reward.id).where(Reward.organization_id == tenant.id).order_by(Reward.id)
            )
        )
        moves: list[tuple[str, str, dict[str, Any]]] = [
            ("held", "ready", {}),
            ("ready", "issuing", {}),
            ("issuing", "delivered", {"delivered_at": NOW}),
            ("pending", "held", {}),
            ("delivered", "redeemed", {}),
            ("failed", "ready", {"delivered_at": None}),
        ]
        for old, new, values in moves:
            session.execute(
                update(Reward)
                .where(Reward.id.in_(ids[::3]), Reward.state == old)
                .values(state=new, **values)
            )
        for reward_id in ids[1::7]:
            session.execute(
                update(Reward)
                .where(Reward.id == reward_id)
                .values(state="cancelled", amount_minor=777, currency="GBP")
            )
    _check(database, tenant)
    # People change department (and lose theirs), rows are deleted (as erasure does).
    with database.session() as session:
        people = list(
            session.scalars(
                select(Learner).where(Learner.organization_id == tenant.id).order_by(Learner.id)
            )
        )
        for i, person in enumerate(people[::3]):
            person.department = DEPARTMENTS[(i + 2) % len(DEPARTMENTS)]
        session.flush()
        gone = select(Reward.id).where(Reward.organization_id == tenant.id).limit(20)
        session.execute(delete(Reward).where(Reward.id.in_(gone)))
        events = (
            select(CompletionEvent.id)
            .where(
                CompletionEvent.organization_id == tenant.id,
                CompletionEvent.id.not_in(
                    select(Reward.event_id).where(Reward.event_id.is_not(None))
                ),
            )
            .limit(40)
        )
        session.execute(delete(CompletionEvent).where(CompletionEvent.id.in_(events)))
    _check(database, tenant)


def test_an_overview_over_a_window_scans(client: Any, database: Database, tenant: Tenant) -> None:
    _load(client, database, tenant, seed=8)
    start, end = NOW - timedelta(days=100), NOW - timedelta(days=10)
    with database.session() as session:
        read = reports.overview(session, tenant.id, True, start=start, end=end)
        assert read == reports.overview_from_scan(session, tenant.id, True, start=start, end=end)
        assert read != reports.overview(session, tenant.id, True, start=None, end=None)


def test_the_claim_and_issuing_write_no_rollup_row(
    client: Any, database: Database, tenant: Tenant
) -> None:
    """Transient states are read from the rewards: moving between them touches no rollup."""
    _load(client, database, tenant, seed=4)
    before = _kept(database, tenant)
    with database.session() as session:
        session.execute(
            update(Reward)
            .where(Reward.organization_id == tenant.id, Reward.state == "pending")
            .values(state="ready")
        )
        session.execute(
            update(Reward)
            .where(Reward.organization_id == tenant.id, Reward.state == "ready")
            .values(state="issuing", attempts=1)
        )
    assert _kept(database, tenant) == before
    _check(database, tenant)


def test_laurel_analytics_rebuild_restores_the_daily_rollups(
    client: Any, database: Database, tenant: Tenant
) -> None:
    _load(client, database, tenant, seed=5)
    kept = _kept(database, tenant)
    assert kept[0]
    assert kept[1]
    with database.session() as session:
        session.execute(delete(Daily).where(Daily.organization_id == tenant.id))
        session.execute(delete(Latency).where(Latency.organization_id == tenant.id))
    url = database.engine.url.render_as_string(hide_password=False)
    done = laurel("analytics", "rebuild", "--org", tenant.slug, url=url)
    assert done.returncode == 0, done.stderr
    assert "daily rollup rows" in done.stdout
    assert _kept(database, tenant) == kept


def test_concurrent_bulk_transitions_do_not_deadlock(
    client: Any, database: Database, tenant: Tenant
) -> None:
    """Two transactions settling interleaved rewards that share rollup rows, each in one
    statement, in opposite id orders, at the same moment, round after round: the rollup rows
    are locked in key order, so one waits for the other instead of deadlocking."""
    if database.dialect != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    _load(client, database, tenant, seed=6)
    with database.session() as session:
        ids = list(
            session.scalars(
                select(Reward.id).where(Reward.organization_id == tenant.id).order_by(Reward.id)
            )
        )
    halves = [ids[0::2], ids[1::2]]
    failures: list[BaseException] = []

    for state, delivered_at in [("issuing", None), ("delivered", NOW)] * 3:
        started = threading.Barrier(2)

        def settle(
            mine: list[uuid.UUID],
            reverse: bool,
            started: threading.Barrier = started,
            state: str = state,
            delivered_at: datetime | None = delivered_at,
        ) -> None:
            try:
                with database.session() as session:
                    started.wait(timeout=10)
                    session.execute(
                        update(Reward)
                        .where(Reward.id.in_(sorted(mine, reverse=reverse)))
                        .values(state=state, delivered_at=delivered_at)
                        .execution_options(synchronize_session=False)
                    )
            except BaseException as exc:  # reported by the test thread
                failures.append(exc)

        threads = [
            threading.Thread(target=settle, args=(half, i == 1)) for i, half in enumerate(halves)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not failures, failures
    _check(database, tenant)
