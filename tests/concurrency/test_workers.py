"""Four `laurel worker` processes drain 2,000 ready rewards from one PostgreSQL database.

Each reward must be issued and recorded exactly once although the workers race for the same
rows: claims use ``FOR UPDATE SKIP LOCKED`` and every state change is a guarded UPDATE.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from laurel import migrate
from laurel.app import create_app
from laurel.audit import service as audit
from laurel.audit.models import AuditEntry
from laurel.config import Environment, Settings
from laurel.db import Database
from laurel.delivery.models import Delivery, SandboxIssuance
from laurel.delivery.secrets import mask  # codes are stored masked (and sealed)
from laurel.events import service as events
from laurel.events.schemas import CompletionIn
from laurel.rewards.models import Reward
from tests.concurrency.processes import Processes, eventually
from tests.conftest import (
    KINDS,
    Tenant,
    completion,
    create_pg_database,
    drop_pg_database,
    make_tenant,
)
from tests.factories import fixed_program

REWARDS = 2_000
WORKERS = 4

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif("postgresql" not in KINDS, reason="several workers need PostgreSQL"),
]


@pytest.fixture
def pg_database() -> Iterator[Database]:
    """A database of this test's own: the workers are other processes, truncation would race."""
    name = f"laurel_workers_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{uuid.uuid4().hex[:8]}"
    url = create_pg_database(name)
    database = Database(url)
    try:
        migrate.upgrade(database)
        yield database
    finally:
        database.dispose()
        drop_pg_database(name)


def _seed(database: Database, tenant: Tenant, count: int) -> None:
    """``count`` passed completions of one course by distinct learners, through the intake."""

    def ingest(numbers: range) -> None:
        with database.session() as session:
            for n in numbers:
                body = completion(f"lms-{n}", learner=f"L{n:05d}")
                events.ingest(session, tenant.actor, CompletionIn.model_validate(body))

    # The first event creates the course; threads that all met it first would queue on it.
    ingest(range(1))
    chunks = [range(start, min(start + 100, count)) for start in range(1, count, 100)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(ingest, chunks))


def _states(database: Database) -> Counter[str]:
    with database.sessionmaker() as session:
        rows = session.execute(select(Reward.state, func.count()).group_by(Reward.state))
        return Counter(dict(rows.all()))


def test_four_worker_processes_deliver_each_reward_exactly_once(
    pg_database: Database, processes: Processes
) -> None:
    database = pg_database
    tenant = make_tenant(database)
    settings = Settings(database_url=database.url, environment=Environment.test)
    with TestClient(create_app(settings, database)) as client:
        fixed_program(client, tenant, amount="5.00")
    _seed(database, tenant, REWARDS)
    assert _states(database) == {"ready": REWARDS}

    workers = [
        processes.worker(database.url, name=f"worker{i}", worker_batch_size="50")
        for i in range(WORKERS)
    ]
    # Exactly once is what is asserted, not speed: on a loaded 2-core host the four workers
    # have taken over two minutes (pytest's own limit per test is 300 s).
    eventually(
        lambda: _states(database)["delivered"] == REWARDS,
        timeout=240,
        what=f"{REWARDS} deliveries",
        watch=workers,
        interval=0.2,
    )
    for worker in workers:
        assert worker.terminate() == 0, worker.tail()
        log = worker.output()
        assert "worker stopped" in log, worker.tail()
        assert "Traceback" not in log, worker.tail()
        assert " ERROR " not in log, worker.tail()

    with database.sessionmaker() as session:
        rewards = {r.id: r for r in session.scalars(select(Reward))}
        deliveries = {d.reward_id: d for d in session.scalars(select(Delivery))}
        issuances = {i.idempotency_key: i for i in session.scalars(select(SandboxIssuance))}
        issuance_rows = session.scalar(select(func.count()).select_from(SandboxIssuance))
        delivery_rows = session.scalar(select(func.count()).select_from(Delivery))
        transitions = Counter(
            (action, target)
            for action, target in session.execute(
                select(AuditEntry.action, AuditEntry.target_id).where(
                    AuditEntry.action.in_(["rewards:reward:issuing", "rewards:reward:delivered"])
                )
            )
        )
        chain = audit.verify_chain(session, tenant.id)

    assert len(rewards) == REWARDS
    assert {r.state for r in rewards.values()} == {"delivered"}
    # One claim per reward: no worker ever took a reward another one held.
    assert {r.attempts for r in rewards.values()} == {1}
    assert delivery_rows == REWARDS
    assert set(deliveries) == set(rewards)
    assert issuance_rows == REWARDS
    assert set(issuances) == {str(reward_id) for reward_id in rewards}
    assert len({i.code for i in issuances.values()}) == REWARDS
    for reward_id, reward in rewards.items():
        issued = issuances[str(reward_id)]
        delivered = deliveries[reward_id]
        assert reward.provider_reference == delivered.provider_reference == f"sbx_{issued.id.hex}"
        assert delivered.details["code"] == mask(issued.code)
        assert issued.amount_minor == reward.amount_minor == 500
    # Each reward was claimed once and recorded delivered once in the audit trail too.
    assert len(transitions) == 2 * REWARDS
    assert set(transitions.values()) == {1}
    assert chain.ok, chain.reason
