"""Migration 0012 keeps what exists: downgrade to 0011 and upgrade again with a program budget,
a reservation and an approval decision in place, and the money and the record are intact."""

from __future__ import annotations

from fastapi.testclient import TestClient

from laurel import migrate
from laurel.db import Database
from tests.conftest import Tenant, completion
from tests.factories import fixed_program, program_budget, role_key


def _migrate(database: Database, revision: str, *, down: bool) -> None:
    (migrate.downgrade if down else migrate.upgrade)(database, revision)


def test_round_trip_through_0011_keeps_budgets_and_decisions(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    usd = "USD"
    program = fixed_program(
        client,
        tenant,
        amount="200.00",
        approval_threshold={"amount": "150.00", "currency": usd},
        budget={"amount": "500.00", "currency": usd},
    )
    reward = client.post("/api/v1/completions", headers=tenant.headers, json=completion()).json()[
        "rewards"
    ][0]
    finance = role_key(database, tenant, "finance")
    approved = client.post(
        f"/api/v1/rewards/{reward['id']}/approve", headers=finance, json={"reason": "fine"}
    )
    assert approved.json()["state"] == "ready"
    before = program_budget(client, tenant, program["id"])
    assert before["reserved"] == "200.00"

    _migrate(database, "0011", down=True)
    _migrate(database, "head", down=False)

    assert program_budget(client, tenant, program["id"]) == before
    history = client.get(f"/api/v1/approvals/rewards/{reward['id']}", headers=finance).json()
    assert [(h["kind"], h["round"], h["status"], h["reason"]) for h in history] == [
        ("approval", 1, "approved", "fine")
    ]
    client.app.state.worker.run_once()  # type: ignore[attr-defined]
    after = program_budget(client, tenant, program["id"])
    assert (after["reserved"], after["spent"]) == ("0.00", "200.00")
