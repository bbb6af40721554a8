"""Reward actions and what each kind of key sees."""

from __future__ import annotations

from fastapi.testclient import TestClient

from laurel.auth import service as auth
from laurel.db import Database
from laurel.delivery.providers import (
    Issued,
    IssueOrder,
    PermanentProviderError,
    ProviderRegistry,
)
from tests.conftest import Tenant, completion
from tests.factories import fixed_program, role_key


class RefusesOnce:
    """Refuses the first order for good, then issues like a normal provider."""

    name = "picky"

    def __init__(self) -> None:
        self.refused = 0

    def issue(self, order: IssueOrder) -> Issued:
        if self.refused == 0:
            self.refused += 1
            raise PermanentProviderError("card program not enabled for this account")
        return Issued(reference=f"picky-{order.idempotency_key}", details={"code": "PICKY-1234"})

    def lookup(self, idempotency_key: str) -> Issued | None:
        return None


def test_failed_reward_can_be_retried(
    client: TestClient, tenant: Tenant, providers: ProviderRegistry
) -> None:
    providers.add(RefusesOnce())
    program = fixed_program(
        client, tenant, provider="picky", budget={"amount": "100.00", "currency": "USD"}
    )
    reward = client.post("/api/v1/completions", json=completion(), headers=tenant.headers).json()[
        "rewards"
    ][0]
    worker = client.app.state.worker  # type: ignore[attr-defined]
    worker.run_once()
    failed = client.get(f"/api/v1/rewards/{reward['id']}", headers=tenant.headers).json()
    assert failed["state"] == "failed"
    assert "card program not enabled" in failed["last_error"]
    budget = client.get(f"/api/v1/programs/{program['id']}", headers=tenant.headers).json()
    assert budget["budget"]["reserved"]["amount"] == "0.00"
    retried = client.post(f"/api/v1/rewards/{reward['id']}/retry", headers=tenant.headers)
    assert retried.status_code == 200, retried.text
    assert retried.json()["state"] == "ready"
    worker.run_once()
    done = client.get(f"/api/v1/rewards/{reward['id']}", headers=tenant.headers).json()
    assert done["state"] == "delivered"
    budget = client.get(f"/api/v1/programs/{program['id']}", headers=tenant.headers).json()
    assert budget["budget"]["spent"]["amount"] == "25.00"
    again = client.post(f"/api/v1/rewards/{reward['id']}/retry", headers=tenant.headers)
    assert again.status_code == 409


def test_unknown_provider_refused_when_program_is_made(client: TestClient, tenant: Tenant) -> None:
    response = client.post(
        "/api/v1/programs",
        headers=tenant.headers,
        json={"key": "p", "template": "microlearning", "provider": "tango"},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "provider"


def test_read_keys_see_masked_codes(client: TestClient, tenant: Tenant, database: Database) -> None:
    fixed_program(client, tenant)
    reward = client.post("/api/v1/completions", json=completion(), headers=tenant.headers).json()[
        "rewards"
    ][0]
    client.app.state.worker.run_once()  # type: ignore[attr-defined]
    with database.session() as session:
        reader = auth.create_key(
            session, organization_id=tenant.id, scopes=["read"], livemode=True, actor="test"
        ).secret
    full = client.get(f"/api/v1/rewards/{reward['id']}", headers=tenant.headers).json()
    masked = client.get(
        f"/api/v1/rewards/{reward['id']}", headers={"Authorization": f"Bearer {reader}"}
    ).json()
    code = full["delivery"]["details"]["code"]
    assert code.startswith("SBX-")
    assert masked["delivery"]["details"]["code"].endswith(code[-4:])
    assert code[:-4] not in masked["delivery"]["details"]["code"]


def test_rejection_reason_kept(client: TestClient, tenant: Tenant, database: Database) -> None:
    fixed_program(
        client, tenant, amount="500.00", approval_threshold={"amount": "100.00", "currency": "USD"}
    )
    reward = client.post("/api/v1/completions", json=completion(), headers=tenant.headers).json()[
        "rewards"
    ][0]
    rejected = client.post(
        f"/api/v1/rewards/{reward['id']}/reject",
        headers=role_key(database, tenant, "finance"),
        json={"reason": "course was retaken to farm rewards"},
    ).json()
    assert rejected["last_error"] == ("rejected by an approver: course was retaken to farm rewards")


def test_error_shapes(client: TestClient, tenant: Tenant) -> None:
    missing = client.get("/api/v1/nothing-here", headers=tenant.headers)
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    wrong = client.put("/api/v1/completions", headers=tenant.headers)
    assert wrong.json()["error"] == "method_not_allowed"
    broken = client.post(
        "/api/v1/completions",
        content=b'{"event_id": ',
        headers=tenant.headers | {"Content-Type": "application/json"},
    )
    assert broken.json()["detail"][0]["field"] == "(body)"
    assert "not valid JSON" in broken.json()["detail"][0]["message"]


def test_batch_service_errors_name_the_item(client: TestClient, tenant: Tenant) -> None:
    future = completion("f-1", occurred_at="2999-01-01T00:00:00Z")
    answer = client.post(
        "/api/v1/completions/batch",
        headers=tenant.headers,
        json={"events": [completion("ok-1"), future]},
    ).json()
    assert answer["results"][1]["detail"][0]["field"] == "events[1].occurred_at"
