"""Programs and rules through the API: templates, validation, versioning that never reaches back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from laurel.db import Database
from laurel.kit.clock import utcnow
from tests.conftest import Tenant, completion
from tests.factories import fixed_program, table_counts

PROGRAMS = "/api/v1/programs"


def test_seven_templates_listed(client: TestClient, tenant: Tenant) -> None:
    templates = client.get("/api/v1/program-templates", headers=tenant.headers).json()
    ranges = {
        t["key"]: (t["value_range"][0]["amount"], t["value_range"][1]["amount"]) for t in templates
    }
    assert ranges == {
        "annual_compliance": ("25.00", "75.00"),
        "product_certification": ("75.00", "150.00"),
        "leadership": ("150.00", "300.00"),
        "channel_partner_certification": ("50.00", "150.00"),
        "customer_onboarding": ("25.00", "75.00"),
        "gamification_points": ("10", "500"),
        "microlearning": ("5.00", "25.00"),
    }


@pytest.mark.parametrize(
    ("template", "course_type", "outcome", "classification", "expected"),
    [
        ("annual_compliance", "compliance", "completed", "employee", "25.00"),
        ("product_certification", "certification", "passed", "employee", "75.00"),
        ("product_certification", "certification", "completed", "employee", None),
        ("leadership", "leadership", "completed", "employee", "150.00"),
        (
            "channel_partner_certification",
            "partner_certification",
            "passed",
            "channel_partner",
            "50.00",
        ),
        ("channel_partner_certification", "partner_certification", "passed", "employee", None),
        ("customer_onboarding", "onboarding", "completed", "customer", "25.00"),
        ("gamification_points", "elective", "completed", "customer", "10"),
        ("microlearning", "microlearning", "completed", "contractor", "5.00"),
    ],
)
def test_templates_pay_their_range(
    client: TestClient,
    tenant: Tenant,
    template: str,
    course_type: str,
    outcome: str,
    classification: str,
    expected: str | None,
) -> None:
    created = client.post(PROGRAMS, json={"key": "p", "template": template}, headers=tenant.headers)
    assert created.status_code == 201, created.text
    body = completion(outcome=outcome)
    body["learner"]["classification"] = classification
    # A short course of plain importance earns the template's base value.
    body["course"] = {"external_id": "C-1", "type": course_type, "duration_minutes": 10}
    response = client.post("/api/v1/completions", json=body, headers=tenant.headers)
    amounts = [r["amount"]["amount"] for r in response.json()["rewards"]]
    assert amounts == ([expected] if expected else [])


def test_template_value_is_capped_at_top_of_range(client: TestClient, tenant: Tenant) -> None:
    client.post(
        PROGRAMS, json={"key": "p", "template": "annual_compliance"}, headers=tenant.headers
    )
    body = completion()
    body["course"] |= {"importance": "4.0", "duration_minutes": 2000}
    response = client.post("/api/v1/completions", json=body, headers=tenant.headers)
    assert response.json()["rewards"][0]["amount"] == {"amount": "75.00", "currency": "USD"}


BAD_PROGRAMS: list[tuple[dict[str, Any], str]] = [
    ({"key": "Bad Key", "name": "x"}, "key"),
    ({"key": "p", "name": "x", "currency": "usd"}, "currency"),
    ({"key": "p", "name": "x", "currency": "ZZZ"}, "currency"),
    ({"key": "p", "name": "x", "budget": {"amount": 100.5, "currency": "USD"}}, "budget.amount"),
    ({"key": "p", "name": "x", "budget": {"amount": "100.555", "currency": "USD"}}, "budget"),
    ({"key": "p", "name": "x", "budget": {"amount": "10.00", "currency": "EUR"}}, "budget"),
    (
        {"key": "p", "name": "x", "approval_threshold": {"amount": 50, "currency": "USD"}},
        "approval_threshold.amount",
    ),
    ({"key": "p", "name": "x", "dedupe_period": "weekly"}, "dedupe_period"),
    ({"key": "p", "template": "nope"}, "template"),
    ({"key": "p"}, "name"),
    ({"key": "p", "name": "x", "effective_from": "2020-01-01T00:00:00Z"}, "effective_from"),
    ({"key": "p", "name": "x", "eligibility": {"countries": ["usa"]}}, "eligibility.countries[0]"),
    (
        {
            "key": "p",
            "name": "x",
            "eligibility": {"starts_at": "2027-01-02T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z"},
        },
        "eligibility",
    ),
    ({"key": "p", "name": "x", "segment_factors": {"employee": "9"}}, "segment_factors.employee"),
    (
        {
            "key": "p",
            "name": "x",
            "rules": [{"value": {"kind": "fixed", "amount": {"amount": 25.0, "currency": "USD"}}}],
        },
        "rules[0].value.amount.amount",
    ),
    (
        {
            "key": "p",
            "name": "x",
            "rules": [
                {
                    "value": {
                        "kind": "four_factor",
                        "base": {"amount": "10.00", "currency": "USD"},
                        "importance": "7",
                    }
                }
            ],
        },
        "rules[0].value.importance",
    ),
    (
        {
            "key": "p",
            "name": "x",
            "rules": [
                {"value": {"kind": "fixed", "amount": {"amount": "5.00", "currency": "EUR"}}}
            ],
        },
        "rules[0].value",
    ),
    (
        {
            "key": "p",
            "name": "x",
            "rules": [
                {
                    "conditions": {"outcomes": ["failed"]},
                    "value": {"kind": "fixed", "amount": {"amount": "5.00", "currency": "USD"}},
                }
            ],
        },
        "rules[0].conditions.outcomes[0]",
    ),
]


@pytest.mark.parametrize(("body", "field"), BAD_PROGRAMS)
def test_bad_program_names_field_and_stores_nothing(
    client: TestClient, tenant: Tenant, database: Database, body: dict[str, Any], field: str
) -> None:
    before = table_counts(database)
    response = client.post(PROGRAMS, json=body, headers=tenant.headers)
    assert response.status_code == 422, response.text
    fields = [d["field"] for d in response.json()["detail"]]
    assert field in fields, response.json()
    assert table_counts(database) == before


def test_duplicate_program_key_is_conflict(client: TestClient, tenant: Tenant) -> None:
    fixed_program(client, tenant)
    again = client.post(PROGRAMS, json={"key": "compliance", "name": "x"}, headers=tenant.headers)
    assert again.status_code == 409


def test_rule_change_applies_forward_only(client: TestClient, tenant: Tenant) -> None:
    program = fixed_program(client, tenant, amount="25.00")
    rule_id = program["rules"][0]["id"]
    before_change = utcnow().isoformat()
    changed = client.patch(
        f"/api/v1/rules/{rule_id}",
        headers=tenant.headers,
        json={"value": {"kind": "fixed", "amount": {"amount": "40.00", "currency": "USD"}}},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2
    # A completion that happened before the change, reported after it, keeps the old value.
    old = client.post(
        "/api/v1/completions",
        headers=tenant.headers,
        json=completion("e-1", learner="A", occurred_at=before_change),
    ).json()
    new = client.post(
        "/api/v1/completions", headers=tenant.headers, json=completion("e-2", learner="B")
    ).json()
    assert old["rewards"][0]["amount"]["amount"] == "25.00"
    assert new["rewards"][0]["amount"]["amount"] == "40.00"
    versions = client.get(f"/api/v1/rules/{rule_id}/versions", headers=tenant.headers).json()
    old_reward = client.get(
        f"/api/v1/rewards/{old['rewards'][0]['id']}", headers=tenant.headers
    ).json()
    new_reward = client.get(
        f"/api/v1/rewards/{new['rewards'][0]['id']}", headers=tenant.headers
    ).json()
    assert old_reward["rule_version_id"] == versions[0]["version_id"]
    assert new_reward["rule_version_id"] == versions[1]["version_id"]


def test_scheduled_program_change(client: TestClient, tenant: Tenant) -> None:
    program = fixed_program(client, tenant)
    later = (utcnow() + timedelta(minutes=3)).isoformat()
    response = client.patch(
        f"{PROGRAMS}/{program['id']}",
        headers=tenant.headers,
        json={"active": False, "effective_from": later},
    )
    assert response.status_code == 200
    # The answer is the new version; the one in force stays on until it starts.
    assert (response.json()["version"], response.json()["active"]) == (2, False)
    current = client.get(f"{PROGRAMS}/{program['id']}", headers=tenant.headers).json()
    assert (current["version"], current["active"]) == (1, True)
    now_event = client.post(
        "/api/v1/completions", headers=tenant.headers, json=completion("e-1", learner="A")
    ).json()
    future_event = client.post(
        "/api/v1/completions",
        headers=tenant.headers,
        json=completion("e-2", learner="B", occurred_at=later),
    ).json()
    assert len(now_event["rewards"]) == 1
    assert future_event["decisions"] == []
    versions = client.get(f"{PROGRAMS}/{program['id']}/versions", headers=tenant.headers).json()
    assert [(v["version"], v["active"]) for v in versions] == [(1, True), (2, False)]


def test_eligibility_change_and_delete(client: TestClient, tenant: Tenant) -> None:
    program = fixed_program(client, tenant)
    client.patch(
        f"{PROGRAMS}/{program['id']}",
        headers=tenant.headers,
        json={"eligibility": {"departments": ["Finance"]}},
    )
    response = client.post(
        "/api/v1/completions", headers=tenant.headers, json=completion("e-1")
    ).json()
    assert response["decisions"][0]["result"] == "not_eligible"
    assert "department Sales" in response["decisions"][0]["reason"]
    deleted = client.delete(f"{PROGRAMS}/{program['id']}", headers=tenant.headers)
    assert deleted.json()["active"] is False


def test_disabled_rule_stops_paying(client: TestClient, tenant: Tenant) -> None:
    program = fixed_program(client, tenant)
    client.delete(f"/api/v1/rules/{program['rules'][0]['id']}", headers=tenant.headers)
    response = client.post(
        "/api/v1/completions", headers=tenant.headers, json=completion("e-1")
    ).json()
    assert response["decisions"][0]["result"] == "no_matching_rule"


def test_program_changes_are_audited(client: TestClient, tenant: Tenant) -> None:
    program = fixed_program(client, tenant)
    client.patch(f"{PROGRAMS}/{program['id']}", headers=tenant.headers, json={"name": "Renamed"})
    entries = client.get(
        "/api/v1/audit",
        headers=tenant.headers,
        params={"target_type": "program", "target_id": program["id"]},
    ).json()
    actions = [e["action"] for e in entries]
    assert "programs:program:create" in actions
    assert "programs:program:update" in actions
    update = next(e for e in entries if e["action"] == "programs:program:update")
    assert update["details"]["changed"] == ["name"]
    assert update["actor"].startswith("apikey:")


def test_unknown_program_is_404(client: TestClient, tenant: Tenant) -> None:
    response = client.get(
        f"{PROGRAMS}/01a2150b-e691-72d2-adde-923d14bf4282", headers=tenant.headers
    )
    assert response.status_code == 404
    assert response.json()["error"] == "program_not_found"


def test_later_change_cancels_an_earlier_scheduled_one(client: TestClient, tenant: Tenant) -> None:
    program = fixed_program(client, tenant)
    later = (utcnow() + timedelta(minutes=3)).isoformat()
    client.patch(
        f"{PROGRAMS}/{program['id']}",
        headers=tenant.headers,
        json={"name": "Renamed tomorrow", "effective_from": later},
    )
    off = client.delete(f"{PROGRAMS}/{program['id']}", headers=tenant.headers).json()
    assert (off["version"], off["active"]) == (3, False)
    # After the scheduled time the switch-off still holds: the newer decision wins.
    after = client.post(
        "/api/v1/completions", headers=tenant.headers, json=completion("e-1", occurred_at=later)
    ).json()
    assert after["decisions"] == []


def test_null_for_required_program_field_is_422(client: TestClient, tenant: Tenant) -> None:
    program = fixed_program(client, tenant)
    for field in ("name", "eligibility", "segment_factors", "active", "currency"):
        response = client.patch(
            f"{PROGRAMS}/{program['id']}", headers=tenant.headers, json={field: None}
        )
        assert response.status_code == 422, (field, response.text)
        assert response.json()["detail"][0]["field"] == field
    cleared = client.patch(
        f"{PROGRAMS}/{program['id']}", headers=tenant.headers, json={"approval_threshold": None}
    )
    assert cleared.status_code == 200
    assert cleared.json()["approval_threshold"] is None
