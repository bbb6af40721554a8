"""A worker killed between the provider's answer and the database update.

This is the hardest crash for exactly-once: the provider has issued a gift code, Laurel has not
recorded it. The reward stays ``issuing`` until its lease runs out; then another worker asks the
provider about the reward's idempotency key and records the code it already issued, instead of
paying a second time.
"""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from laurel.audit import service as audit
from laurel.db import Database
from laurel.delivery.models import Delivery, SandboxIssuance
from laurel.delivery.secrets import mask  # codes are stored masked (and sealed)
from laurel.rewards.models import Reward
from tests.concurrency.processes import Processes, eventually
from tests.conftest import Tenant, completion
from tests.factories import fixed_program, program_budget

CRASHED = 86  # laurel.kit.faults: the exit code of an injected crash

pytestmark = pytest.mark.slow


def _ledger(
    database: Database, reward_id: uuid.UUID
) -> tuple[Reward, list[Delivery], list[SandboxIssuance]]:
    with database.sessionmaker() as session:
        reward = session.get_one(Reward, reward_id)
        deliveries = list(session.scalars(select(Delivery).where(Delivery.reward_id == reward_id)))
        issuances = list(
            session.scalars(
                select(SandboxIssuance).where(SandboxIssuance.idempotency_key == str(reward_id))
            )
        )
        return reward, deliveries, issuances


def test_worker_killed_after_the_provider_call_is_settled_with_the_same_code(
    database: Database, client: TestClient, tenant: Tenant, processes: Processes
) -> None:
    """Two rewards are claimed together; the worker dies right after issuing the first one.

    The issued one must end with the code the provider already gave (looked up, not issued
    again); the one the provider never saw is issued again with the same idempotency key.
    """
    budget = {"amount": "100.00", "currency": "USD"}
    program = fixed_program(client, tenant, amount="25.00", budget=budget)
    reward_ids = []
    for learner in ("E1", "E2"):
        body = completion(f"lms-{learner}", learner=learner)
        posted = client.post("/api/v1/completions", json=body, headers=tenant.headers)
        assert posted.status_code == 202, posted.text
        reward_ids.append(uuid.UUID(posted.json()["rewards"][0]["id"]))

    # The lease is stamped by the worker that claims, so the doomed one gets the short lease.
    crashing = processes.worker(
        database.url,
        name="crashing",
        faults="worker.after_provider_call",
        worker_lease_seconds="1",
        # One provider call at a time, so exactly one issuance precedes the crash (with
        # parallel calls on PostgreSQL both may; reconciliation settles that case the same way).
        worker_concurrency="1",
    )
    assert crashing.wait(60) == CRASHED, crashing.tail()

    before = {reward_id: _ledger(database, reward_id) for reward_id in reward_ids}
    for reward, deliveries, _ in before.values():
        assert reward.state == "issuing"
        assert reward.attempts == 1
        assert reward.provider_reference is None
        assert deliveries == []
    issued_ids = [reward_id for reward_id, (_, _, issued) in before.items() if issued]
    assert len(issued_ids) == 1  # the provider issued for the first claim, then the crash
    (issued_id,) = issued_ids
    (unsent_id,) = set(reward_ids) - {issued_id}
    (first,) = before[issued_id][2]
    # Money stays reserved while the outcome is unknown: neither spent nor given back.
    assert program_budget(client, tenant, program["id"]) == {
        "limit": "100.00",
        "reserved": "50.00",
        "spent": "0.00",
        "available": "50.00",
    }

    survivor = processes.worker(database.url, name="survivor", worker_lease_seconds="1")

    def delivered() -> bool:
        with database.sessionmaker() as session:
            states = {session.get_one(Reward, reward_id).state for reward_id in reward_ids}
        return states == {"delivered"}

    eventually(delivered, timeout=30, what="the abandoned claims to be settled", watch=[survivor])
    assert survivor.terminate() == 0, survivor.tail()
    assert "Traceback" not in survivor.output(), survivor.tail()

    reward, deliveries, issuances = _ledger(database, issued_id)
    assert [i.id for i in issuances] == [first.id]  # still one issuance: no second code
    assert len(deliveries) == 1
    assert deliveries[0].details["code"] == mask(first.code)
    assert reward.provider_reference == deliveries[0].provider_reference == f"sbx_{first.id.hex}"
    assert reward.attempts == 1  # settled by asking the provider, not by issuing again
    assert reward.lease_expires_at is None

    reward, deliveries, issuances = _ledger(database, unsent_id)
    assert len(issuances) == 1
    assert len(deliveries) == 1
    assert deliveries[0].details["code"] == mask(issuances[0].code) != mask(first.code)
    assert reward.attempts == 2  # the provider had nothing: issued again, same key

    assert program_budget(client, tenant, program["id"]) == {
        "limit": "100.00",
        "reserved": "0.00",
        "spent": "50.00",
        "available": "50.00",
    }
    with database.sessionmaker() as session:
        trails = {
            reward_id: [
                e.action
                for e in reversed(
                    audit.list_entries(
                        session, tenant.id, target_type="reward", target_id=str(reward_id)
                    )
                )
            ]
            for reward_id in reward_ids
        }
        chain = audit.verify_chain(session, tenant.id)
    assert trails[issued_id] == [
        "rewards:reward:create",
        "rewards:reward:ready",
        "rewards:reward:issuing",
        "rewards:reward:delivered",
    ]
    assert trails[unsent_id] == [
        "rewards:reward:create",
        "rewards:reward:ready",
        "rewards:reward:issuing",
        "rewards:reward:ready",
        "rewards:reward:issuing",
        "rewards:reward:delivered",
    ]
    assert chain.ok, chain.reason


def test_crash_during_parallel_provider_calls_pays_each_reward_once(
    database: Database, client: TestClient, tenant: Tenant, processes: Processes
) -> None:
    """Eight rewards issued side by side (PostgreSQL) when one thread's caller dies: whatever
    the provider had issued is looked up, the rest issued again; every reward is paid once."""
    fixed_program(client, tenant, amount="5.00")
    reward_ids = []
    for n in range(8):
        posted = client.post(
            "/api/v1/completions",
            json=completion(f"p-{n}", learner=f"P{n}"),
            headers=tenant.headers,
        )
        reward_ids.append(uuid.UUID(posted.json()["rewards"][0]["id"]))
    crashing = processes.worker(
        database.url,
        name="crashing",
        faults="worker.after_provider_call",
        worker_lease_seconds="1",
        worker_concurrency="8",
    )
    assert crashing.wait(60) == CRASHED, crashing.tail()
    survivor = processes.worker(database.url, name="survivor", worker_lease_seconds="1")

    def delivered() -> bool:
        with database.sessionmaker() as session:
            states = {session.get_one(Reward, reward_id).state for reward_id in reward_ids}
        return states == {"delivered"}

    eventually(delivered, timeout=30, what="every reward to be settled", watch=[survivor])
    assert survivor.terminate() == 0, survivor.tail()
    for reward_id in reward_ids:
        reward, deliveries, issuances = _ledger(database, reward_id)
        assert len(issuances) == 1, reward_id
        assert len(deliveries) == 1, reward_id
        assert deliveries[0].details["code"] == mask(issuances[0].code)
        assert reward.provider_reference == f"sbx_{issuances[0].id.hex}"
