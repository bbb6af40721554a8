"""Two learners with history in as many tables as the API reaches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Tenant, completion
from tests.factories import fixed_program
from tests.imports.support import report, upload

ROSTER = [
    "Employee ID",
    "Email - Primary Work",
    "Worker Status",
    "Supervisory Organization",
    "Manager",
    "Worker Type",
    "Country",
    "Hire Date",
]


@dataclass
class People:
    a: str
    b: str
    rewards: dict[str, list[str]]


def learner_id(client: TestClient, tenant: Tenant, external_id: str) -> str:
    page = client.get("/api/v1/learners", headers=tenant.headers, params={"limit": 500}).json()
    return str(next(x["id"] for x in page["data"] if x["external_id"] == external_id))


def earn(
    client: TestClient, tenant: Tenant, event_id: str, learner: str, course: str, **extra: Any
) -> str:
    body = completion(event_id, learner=learner, course=course)
    body["learner"].update(extra)
    response = client.post("/api/v1/completions", json=body, headers=tenant.headers)
    assert response.status_code in (200, 201, 202), response.text
    return str(response.json()["rewards"][0]["id"])


def populate(client: TestClient, tenant: Tenant) -> People:
    fixed_program(client, tenant, budget={"amount": "1000.00", "currency": "USD"})
    upload(
        client,
        tenant,
        report(
            [
                ["E1001", "e1001@example.com", "Active", "Sales", "Kim", "Employee", "DE", ""],
                ["E2002", "e2002@example.com", "Active", "Ops", "Lee", "Employee", "US", ""],
            ],
            ROSTER,
        ),
        kind="roster",
    )
    rewards = {
        "E1001": [
            earn(client, tenant, "a-1", "E1001", "SEC-101", name="Ana Díaz", country="DE"),
            earn(client, tenant, "a-2", "E1001", "SEC-102", name="Ana Díaz", country="DE"),
        ],
        "E2002": [
            earn(
                client, tenant, "b-1", "E2002", "SEC-101", name="Bo Berg", country="US", region="CA"
            ),
        ],
    }
    client.app.state.worker.run_once()  # type: ignore[attr-defined]
    a = learner_id(client, tenant, "E1001")
    b = learner_id(client, tenant, "E2002")
    for who in (a, b):
        made = client.post(
            f"/api/v1/privacy/learners/{who}/consents",
            headers=tenant.headers,
            json={"purpose": "reward_delivery", "lawful_basis": "consent", "source": "lms:moodle"},
        )
        assert made.status_code == 201, made.text
    return People(a, b, rewards)
