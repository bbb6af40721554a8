"""A small organization for the dashboard tests, built through the real API.

Three completions under a program whose rewards need approval above $150: a Sales learner's
and an Engineering learner's rewards are held for approval, and a learner named like an OFAC
SDN entry is held for screening review (a real case from the real list files).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from laurel.db import Database
from laurel.screening import service, sources
from tests.auth.support import make_user
from tests.conftest import Tenant, completion
from tests.factories import fixed_program
from tests.screening.support import sample_folder

ROLES = {
    "ld@acme.test": ["program_manager"],
    "finance@acme.test": ["finance"],
    "compliance@acme.test": ["compliance"],
    "auditor@acme.test": ["auditor"],
}


@dataclass(frozen=True)
class Seeded:
    sales_reward: str
    sales_learner: str
    eng_reward: str
    eng_learner: str
    screened_reward: str
    case_id: str


def earn(
    client: TestClient,
    tenant: Tenant,
    event: str,
    *,
    learner: str,
    name: str,
    department: str,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    body = completion(event, learner=learner)
    body["learner"].update(name=name, department=department)
    response = client.post("/api/v1/completions", headers=headers or tenant.headers, json=body)
    assert response.status_code == 202, response.text
    summary = response.json()["rewards"][0]
    reward: dict[str, Any] = client.get(
        f"/api/v1/rewards/{summary['id']}", headers=tenant.headers
    ).json()
    return reward


def import_lists(database: Database, folder: Path) -> None:
    fetched = sources.fetch(str(folder))
    with database.session() as session:
        service.store_version(session, fetched, actor="test")


def seed(client: TestClient, tenant: Tenant, database: Database, tmp_path: Path) -> Seeded:
    import_lists(database, sample_folder(tmp_path / "ofac"))
    fixed_program(
        client,
        tenant,
        amount="200.00",
        approval_threshold={"amount": "150.00", "currency": "USD"},
    )
    sales = earn(client, tenant, "e-1", learner="E1", name="Ana Díaz", department="Sales")
    eng = earn(client, tenant, "e-2", learner="E2", name="Bo Chen", department="Engineering")
    listed = earn(client, tenant, "e-3", learner="E3", name="Ismail Haniyeh", department="Sales")
    assert sales["state"] == eng["state"] == listed["state"] == "held"
    found = client.get("/api/v1/screening/cases?status=open", headers=tenant.headers).json()
    [case] = [c for c in found["data"] if c["reward_id"] == listed["id"]]
    for email, roles in ROLES.items():
        make_user(database, tenant.id, email, roles)
    make_user(
        database, tenant.id, "manager@acme.test", ["department_manager"], departments=["Sales"]
    )
    make_user(
        database,
        tenant.id,
        "learner@acme.test",
        ["learner"],
        learner_id=uuid.UUID(sales["learner_id"]),
    )
    return Seeded(
        sales_reward=sales["id"],
        sales_learner=sales["learner_id"],
        eng_reward=eng["id"],
        eng_learner=eng["learner_id"],
        screened_reward=listed["id"],
        case_id=case["id"],
    )
