"""Roster-verified programs: hold learners not active on the latest roster, release on a new one."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from laurel.imports.columns import resolve
from laurel.imports.models import ImportKind
from tests.conftest import Tenant, completion
from tests.factories import fixed_program
from tests.imports.support import report, upload

WORKDAY = [
    "Employee ID",
    "Email - Primary Work",
    "Worker Status",
    "Supervisory Organization",
    "Manager",
    "Worker Type",
    "Location Country",
    "Hire Date",
]
ADP = [
    "Associate ID",
    "Work Contact: Work Email",
    "Position Status",
    "Home Department Description",
    "Reports To Name",
    "Worker Category Description",
    "Country",
    "Hire Date",
]


def earn(client: TestClient, tenant: Tenant, event: str, learner: str) -> dict[str, Any]:
    body = completion(event, learner=learner)
    # The LMS sends id and email only: no department, manager or classification.
    body["learner"] = {"external_id": learner, "email": f"{learner.lower()}@example.com"}
    response = client.post("/api/v1/completions", headers=tenant.headers, json=body)
    assert response.status_code == 202, response.text
    reward: dict[str, Any] = response.json()["rewards"][0]
    return reward


def reward(client: TestClient, tenant: Tenant, reward_id: str) -> dict[str, Any]:
    found: dict[str, Any] = client.get(
        f"/api/v1/rewards/{reward_id}", headers=tenant.headers
    ).json()
    return found


def test_common_workday_and_adp_headers_are_recognised() -> None:
    for headers in (WORKDAY, ADP):
        found = resolve(ImportKind.roster, headers, {})
        assert set(found) == {
            "employee_id",
            "email",
            "status",
            "department",
            "manager",
            "classification",
            "country",
            "hire_date",
        }, headers


def test_held_until_a_roster_lists_the_learner_as_active(
    client: TestClient, tenant: Tenant
) -> None:
    fixed_program(client, tenant, eligibility={"roster_verified": True})
    plain = fixed_program(client, tenant, key="other", amount="5.00")
    assert plain["eligibility"]["roster_verified"] is False
    before = earn(client, tenant, "e-1", "W1")
    assert before["state"] == "held"
    assert before["hold_reasons"][0]["reason"] == "not_on_roster"
    assert "no roster" in before["hold_reasons"][0]["message"]
    first = upload(
        client,
        tenant,
        report(
            [["W2", "w2@example.com", "Active", "Sales", "Kim", "Employee", "US", "2020-01-01"]],
            WORKDAY,
        ),
        kind="roster",
    )
    assert (first["kind"], first["accepted"], first["rejected"]) == ("roster", 1, 0)
    assert reward(client, tenant, before["id"])["state"] == "held"
    terminated = earn(client, tenant, "e-2", "W3")
    # Roster with W1 active (matched by email: ids differ), W3 terminated, and bad rows.
    second = upload(
        client,
        tenant,
        report(
            [
                [
                    "X-1",
                    "w1@example.com",
                    "A",
                    "Finance",
                    "Lee",
                    "Contingent Worker",
                    "DE",
                    "2021-05-01",
                ],
                ["W3", "", "T", "Ops", "", "Regular", "US", ""],
                # A second position of W3, also terminated: one entry (merged).
                ["W3", "", "T", "Sales", "", "Regular", "US", "2019-01-01"],
                ["W4", "", "sabbatical?", "", "", "", "", "soon"],
            ],
            ADP,
        ),
        kind="roster",
    )
    assert (second["accepted"], second["rejected"]) == (3, 1)
    errors = {r["line"]: r["errors"] for r in second["rejected_rows"]}
    # Rejected for its status; its unreadable hire date alone would only be a warning.
    assert [(e["column"], e.get("severity")) for e in errors[5]] == [
        ("Position Status", None),
        ("Hire Date", "warning"),
    ]
    released = reward(client, tenant, before["id"])
    # The roster no longer holds it. As a contingent worker (a contractor) the learner now
    # needs a W-9 before a first reward: only the tax gate holds it (docs/tax.md).
    assert [(h["gate"], h["reason"]) for h in released["hold_reasons"]] == [
        ("tax", "tax_form_required")
    ]
    still = reward(client, tenant, terminated["id"])
    assert still["state"] == "held"
    assert "terminated" in still["hold_reasons"][0]["message"]
    learners = client.get("/api/v1/learners", headers=tenant.headers).json()["data"]
    w1 = next(item for item in learners if item["external_id"] == "W1")
    # Matched by email (the HR id X-1 differs from the LMS id W1); filled what the LMS lacked.
    assert (w1["department"], w1["manager"], w1["classification"]) == (
        "Finance",
        "Lee",
        "contractor",
    )


def test_new_learner_takes_roster_fields_and_test_keys_cannot_import_rosters(
    client: TestClient, tenant: Tenant
) -> None:
    upload(
        client,
        tenant,
        report([["N1", "", "Active", "Legal", "Ada", "Employee", "US", ""]], WORKDAY),
        kind="roster",
    )
    fixed_program(client, tenant, eligibility={"roster_verified": True, "departments": ["Legal"]})
    paid = earn(client, tenant, "e-9", "N1")
    # Department came from the roster on first sight, so the department rule matched too.
    assert paid["state"] == "ready"
    refused = upload(
        client,
        tenant,
        report([["N2", "", "Active", "", "", "", "", ""]], WORKDAY),
        kind="roster",
        headers=tenant.test_headers,
        expect=403,
    )
    assert "roster" in refused["detail"]
