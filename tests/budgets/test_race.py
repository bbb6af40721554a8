"""Eight workers racing for budgets that fit only some rewards: never overspent, and exactly
as many rewards reserved as the money covers.

Each worker is a thread with its own session and transaction on the real database. Two races:
batch intake (every worker ingests a batch of completions at once) and gate re-runs (every
worker re-checks held rewards at once after the limit was raised underneath them).
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from laurel.budgets.models import Budget, BudgetReservation, BudgetWindow, ReservationState
from laurel.db import Database
from laurel.events import service as events
from laurel.events.schemas import CompletionIn
from laurel.rewards import service as rewards
from laurel.rewards.models import Reward, RewardState
from tests.conftest import Tenant, completion
from tests.factories import fixed_program

WORKERS = 8


def _money_state(database: Database) -> dict[str, Any]:
    with database.sessionmaker() as session:
        windows = session.execute(
            select(Budget.scope_key, Budget.limit_minor, BudgetWindow.reserved_minor).join(
                BudgetWindow, BudgetWindow.budget_id == Budget.id
            )
        ).all()
        reserved_rows = session.execute(
            select(BudgetReservation.budget_id, func.sum(BudgetReservation.amount_minor))
            .where(BudgetReservation.state == ReservationState.reserved)
            .group_by(BudgetReservation.budget_id)
        ).all()
        states = dict(
            session.execute(select(Reward.state, func.count()).group_by(Reward.state)).all()
        )
    return {"windows": windows, "reserved_rows": reserved_rows, "states": states}


def _race(work: list[Any]) -> None:
    barrier = threading.Barrier(len(work))

    def run(job: Any) -> None:
        barrier.wait(timeout=30)
        job()

    with ThreadPoolExecutor(len(work)) as pool:
        for future in [pool.submit(run, job) for job in work]:
            future.result()


def test_concurrent_batch_intake_never_overspends(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    # 10.00 each; the program's budget fits 10 and an organization-wide monthly budget 12.
    program = fixed_program(
        client, tenant, amount="10.00", budget={"amount": "100.00", "currency": "USD"}
    )
    created = client.post(
        "/api/v1/budgets",
        headers=tenant.headers,
        json={"limit": {"amount": "120.00", "currency": "USD"}, "period": "monthly"},
    )
    assert created.status_code == 201, created.text

    def batch(worker: int) -> Any:
        def job() -> None:
            items = [
                CompletionIn.model_validate(completion(f"w{worker}-{n}", learner=f"W{worker}L{n}"))
                for n in range(4)
            ]
            with database.session() as session:
                answers = events.ingest_many(session, tenant.actor, items)
            assert all(not isinstance(a, Exception) for a in answers), answers

        return job

    _race([batch(w) for w in range(WORKERS)])
    found = _money_state(database)
    assert found["states"] == {"ready": 10, "held": 22}
    by_key = {key: (limit, reserved) for key, limit, reserved in found["windows"]}
    assert by_key[f"{program['id']}/*/total"] == (10000, 10000)
    assert by_key["*/*/monthly"] == (12000, 10000)
    assert sorted(total for _, total in found["reserved_rows"]) == [10000, 10000]


def test_concurrent_gate_reruns_reserve_exactly_what_fits(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    program = fixed_program(
        client, tenant, amount="10.00", budget={"amount": "0.00", "currency": "USD"}
    )
    ids = []
    for n in range(2 * WORKERS):
        response = client.post(
            "/api/v1/completions", headers=tenant.headers, json=completion(f"e{n}", learner=f"L{n}")
        )
        reward = response.json()["rewards"][0]
        assert reward["hold_reasons"][0]["reason"] == "budget_exhausted"
        ids.append(uuid.UUID(reward["id"]))
    # Raised underneath the held rewards (no release), so the workers race for the money.
    with database.session() as session:
        session.execute(
            update(Budget)
            .where(Budget.program_id == uuid.UUID(program["id"]))
            .values(limit_minor=5500)
        )

    def recheck(mine: list[uuid.UUID]) -> Any:
        def job() -> None:
            for reward_id in mine:
                with database.session() as session:
                    rewards.retry_gates(session, tenant.actor, reward_id)

        return job

    _race([recheck(ids[w::WORKERS]) for w in range(WORKERS)])
    found = _money_state(database)
    assert found["states"] == {RewardState.ready: 5, RewardState.held: 11}
    assert found["windows"] == [(f"{program['id']}/*/total", 5500, 5000)]
    assert [total for _, total in found["reserved_rows"]] == [5000]
