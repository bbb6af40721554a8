"""A worker killed right after the inventory handed out a code, before Laurel recorded it.

The code is allocated (committed in the provider's own transaction) to the reward id; the
survivor's reconciliation asks ``lookup`` and records that same code: no second code is taken.
"""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from laurel.db import Database
from laurel.delivery.models import Delivery, InventoryCode
from laurel.rewards.models import Reward
from tests.concurrency.processes import Processes, eventually
from tests.conftest import Tenant, completion
from tests.delivery.test_inventory import codes, csv_of, upload
from tests.factories import fixed_program

CRASHED = 86

pytestmark = pytest.mark.slow


def test_worker_killed_after_allocation_is_settled_with_the_same_code(
    database: Database, client: TestClient, tenant: Tenant, processes: Processes
) -> None:
    fixed_program(client, tenant, amount="25.00", provider="inventory")
    upload(client, tenant, csv_of(*codes(5)))
    reward_ids = []
    for learner in ("E1", "E2"):
        posted = client.post(
            "/api/v1/completions",
            json=completion(f"lms-{learner}", learner=learner),
            headers=tenant.headers,
        )
        reward_ids.append(uuid.UUID(posted.json()["rewards"][0]["id"]))

    crashing = processes.worker(
        database.url,
        name="crashing",
        faults="worker.after_provider_call",
        worker_lease_seconds="1",
        worker_concurrency="1",
    )
    assert crashing.wait(60) == CRASHED, crashing.tail()
    with database.sessionmaker() as session:
        before = {
            row.allocated_to: row.id
            for row in session.scalars(
                select(InventoryCode).where(InventoryCode.allocated_to.is_not(None))
            )
        }
    assert len(before) == 1  # one code handed out, then the crash

    survivor = processes.worker(database.url, name="survivor", worker_lease_seconds="1")

    def delivered() -> bool:
        with database.sessionmaker() as session:
            states = {session.get_one(Reward, reward_id).state for reward_id in reward_ids}
        return states == {"delivered"}

    eventually(delivered, timeout=30, what="the abandoned claims to be settled", watch=[survivor])
    assert survivor.terminate() == 0, survivor.tail()

    with database.sessionmaker() as session:
        after = {
            row.allocated_to: row.id
            for row in session.scalars(
                select(InventoryCode).where(InventoryCode.allocated_to.is_not(None))
            )
        }
        deliveries = {d.reward_id: d.provider_reference for d in session.scalars(select(Delivery))}
        first_reward = session.get_one(Reward, uuid.UUID(next(iter(before))))
    assert len(after) == 2  # two rewards, two codes: none taken twice, none wasted
    for key, code_id in before.items():
        assert after[key] == code_id  # the crashed allocation kept its code
    assert {deliveries[r] for r in reward_ids} == {f"inv_{c.hex}" for c in after.values()}
    assert first_reward.attempts == 1  # settled by asking the inventory, not allocating again
