from __future__ import annotations

from fastapi.testclient import TestClient

from laurel.db import Database
from laurel.worker import Worker
from tests.conftest import Tenant, completion
from tests.factories import fixed_program


def test_completion_creates_reward_and_worker_delivers(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant, amount="25.00")
    response = client.post("/api/v1/completions", json=completion(), headers=tenant.headers)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["replayed"] is False
    assert [r["state"] for r in body["rewards"]] == ["ready"]
    assert body["rewards"][0]["amount"] == {"amount": "25.00", "currency": "USD"}

    worker: Worker = client.app.state.worker  # type: ignore[attr-defined]
    assert worker.run_once() == 1
    reward = client.get(f"/api/v1/rewards/{body['rewards'][0]['id']}", headers=tenant.headers)
    assert reward.status_code == 200
    assert reward.json()["state"] == "delivered"
    assert reward.json()["delivery"]["details"]["code"].startswith("SBX-")
