"""A budget's burn-down, rebuilt day by day from its window's reservations."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy import update

from laurel.app import create_app
from laurel.budgets import burndown, reservations
from laurel.budgets import service as budgets
from laurel.budgets.models import BudgetReservation
from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from laurel.kit.clock import utcnow
from tests.auth.support import plain_client
from tests.conftest import Tenant, completion
from tests.factories import fixed_program


def test_reserved_then_spent_or_released_day_by_day(
    settings: Settings, database: Database, providers: ProviderRegistry, tenant: Tenant
) -> None:
    app: FastAPI = create_app(settings, database, providers=providers)
    with plain_client(app) as client:  # no worker: the rewards stay where the gates put them
        program = fixed_program(
            client, tenant, amount="25.00", budget={"amount": "100.00", "currency": "USD"}
        )
        made = []
        for n in range(3):
            answer = client.post(
                "/api/v1/completions",
                headers=tenant.headers,
                json=completion(f"e-{n}", learner=f"E{n}"),
            )
            assert answer.status_code == 202, answer.text
            made.append(uuid.UUID(answer.json()["rewards"][0]["id"]))
    today = utcnow()
    with database.session() as session:
        # Reserved three days ago; the first delivered yesterday, the second released today.
        session.execute(update(BudgetReservation).values(created_at=today - timedelta(days=3)))
        reservations.spend(session, made[0])
        reservations.release(session, made[1])
        session.execute(
            update(BudgetReservation)
            .where(BudgetReservation.reward_id == made[0])
            .values(updated_at=today - timedelta(days=1))
        )
    with database.read_session() as session:
        [budget] = budgets.list_budgets(session, tenant.id, program_id=uuid.UUID(program["id"]))
        assert budget.id is not None
        line = burndown.burn_down(session, tenant.id, budget.id)
    assert line.limit == 10000
    assert line.days[-4:] == [(today - timedelta(days=d)).date() for d in (3, 2, 1, 0)]
    assert line.reserved[-4:] == [7500, 7500, 5000, 2500]
    assert line.spent[-4:] == [0, 0, 2500, 2500]
    # The last point is the window's own counters.
    assert (line.budget.reserved.minor, line.budget.spent.minor) == (2500, 2500)
