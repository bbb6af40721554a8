"""FCPA gate: non-US channel partners above the per-reward or yearly USD limits wait for a
compliance approver; the batch answer is the one a single re-check gives."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from laurel.db import Database
from laurel.kit.clock import utcnow
from tests.conftest import Tenant, completion
from tests.factories import fixed_program, role_key


def money(amount: str, currency: str = "USD") -> dict[str, str]:
    return {"amount": amount, "currency": currency}


def partner_event(
    event: str,
    *,
    learner: str = "P1",
    country: str | None = "BR",
    classification: str = "channel_partner",
    course: str = "PARTNER-101",
) -> dict[str, Any]:
    body = completion(event, learner=learner, course=course)
    body["learner"] |= {"classification": classification, "country": country}
    return body


def earn(client: TestClient, tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/v1/completions", headers=tenant.headers, json=body)
    assert response.status_code == 202, response.text
    reward: dict[str, Any] = response.json()["rewards"][0]
    return reward


def reasons(reward: dict[str, Any]) -> list[str]:
    return [h["reason"] for h in reward["hold_reasons"]]


def test_above_the_event_limit_needs_compliance(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant, amount="300.00")
    held = earn(client, tenant, partner_event("e-1"))
    assert (held["state"], reasons(held)) == ("held", ["fcpa_review"])
    assert "above the FCPA limit of 250.00 USD" in held["hold_reasons"][0]["message"]

    finance = role_key(database, tenant, "finance")
    refused = client.post(f"/api/v1/rewards/{held['id']}/approve", headers=finance)
    assert refused.status_code == 403
    assert refused.json()["error"] == "approver_role_required"
    assert refused.json()["detail"]["roles_needed"] == ["compliance"]
    # An org admin is no compliance officer either.
    admin = client.post(f"/api/v1/rewards/{held['id']}/approve", headers=tenant.headers)
    assert admin.json()["error"] == "approver_role_required"

    queue = client.get("/api/v1/approvals?kind=fcpa", headers=finance).json()["data"]
    assert [(q["reward_id"], q["roles"]) for q in queue] == [(held["id"], ["compliance"])]
    compliance = role_key(database, tenant, "compliance")
    approved = client.post(
        f"/api/v1/rewards/{held['id']}/approve", headers=compliance, json={"reason": "KYC done"}
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "ready"


def test_only_non_us_channel_partners_are_checked(client: TestClient, tenant: Tenant) -> None:
    fixed_program(client, tenant, amount="300.00")
    us_partner = earn(client, tenant, partner_event("e-1", learner="P1", country="US"))
    employee_abroad = earn(
        client, tenant, partner_event("e-2", learner="P2", classification="employee")
    )
    no_country = earn(client, tenant, partner_event("e-3", learner="P3", country=None))
    # A US partner without a W-9 waits for the tax form (docs/tax.md), never for FCPA review.
    assert reasons(us_partner) == ["tax_form_required"]
    assert employee_abroad["state"] == "ready"
    # Not known to be in the US: the safe side (and, presumed a US person for tax until a form
    # says otherwise, the partner is asked for a W-9 first).
    assert reasons(no_country) == ["tax_form_required", "fcpa_review"]


def test_at_the_event_limit_passes(client: TestClient, tenant: Tenant) -> None:
    fixed_program(client, tenant, amount="250.00")
    assert earn(client, tenant, partner_event("e-1"))["state"] == "ready"


def test_yearly_aggregate_in_a_batch_and_on_recheck(client: TestClient, tenant: Tenant) -> None:
    """Six rewards of 200.00 to one partner: five reach exactly 1,000.00 (not above), the
    sixth goes over. Re-checking gives the same answers; a cancelled reward stops counting."""
    fixed_program(client, tenant, amount="200.00")
    batch = client.post(
        "/api/v1/completions/batch",
        headers=tenant.headers,
        json={"events": [partner_event(f"e-{n}", course=f"C{n}") for n in range(6)]},
    )
    assert batch.status_code == 200, batch.text
    made = [r["event"]["rewards"][0] for r in batch.json()["results"]]
    # Rewards made in the same instant count in id order (the order a later re-check sees).
    made.sort(key=lambda r: uuid.UUID(r["id"]))
    assert [r["state"] for r in made] == ["ready"] * 5 + ["held"]
    sixth = made[5]
    assert reasons(sixth) == ["fcpa_review"]
    assert (
        "reach 1200.00 USD, above the FCPA yearly limit of 1000.00 USD"
        in (sixth["hold_reasons"][0]["message"])
    )
    again = client.post(f"/api/v1/rewards/{sixth['id']}/recheck", headers=tenant.headers).json()
    assert reasons(again) == ["fcpa_review"]
    # Another partner is counted apart.
    assert earn(client, tenant, partner_event("o-1", learner="P2"))["state"] == "ready"
    cancelled = client.post(
        f"/api/v1/rewards/{made[0]['id']}/cancel", headers=tenant.headers, json={"reason": "x"}
    )
    assert cancelled.json()["state"] == "cancelled"
    passed = client.post(f"/api/v1/rewards/{sixth['id']}/recheck", headers=tenant.headers).json()
    assert passed["state"] == "ready"


def test_compliance_rejection_cancels(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant, amount="300.00")
    held = earn(client, tenant, partner_event("e-1"))
    compliance = role_key(database, tenant, "compliance")
    rejected = client.post(
        f"/api/v1/rewards/{held['id']}/reject",
        headers=compliance,
        json={"reason": "partner under investigation"},
    ).json()
    assert rejected["state"] == "cancelled"
    assert rejected["last_error"] == "rejected by compliance: partner under investigation"


def test_fcpa_and_threshold_need_both_decisions(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant, amount="300.00", approval_threshold=money("150.00"))
    held = earn(client, tenant, partner_event("e-1"))
    assert reasons(held) == ["fcpa_review", "approval_required"]
    compliance = role_key(database, tenant, "compliance")
    after_compliance = client.post(
        f"/api/v1/rewards/{held['id']}/approve", headers=compliance
    ).json()
    assert (after_compliance["state"], reasons(after_compliance)) == (
        "held",
        ["approval_required"],
    )
    # One key with both roles could have decided both at once; finance decides the rest here.
    finance = role_key(database, tenant, "finance")
    done = client.post(f"/api/v1/rewards/{held['id']}/approve", headers=finance).json()
    assert done["state"] == "ready"
    history = client.get(f"/api/v1/approvals/rewards/{held['id']}", headers=finance).json()
    assert sorted((h["kind"], h["status"]) for h in history) == [
        ("approval", "approved"),
        ("fcpa", "approved"),
    ]


def test_test_mode_rewards_are_checked_too(client: TestClient, tenant: Tenant) -> None:
    fixed_program(client, tenant, amount="300.00")
    response = client.post(
        "/api/v1/completions", headers=tenant.test_headers, json=partner_event("t-1")
    )
    reward = response.json()["rewards"][0]
    assert reasons(reward) == ["fcpa_review"]


def import_rates(client: TestClient, tenant: Tenant, usd_per_eur: str = "1.0450") -> None:
    """Today's ECB reference rates (history CSV layout), as an operator imports them."""
    today = utcnow().date().isoformat()
    sent = client.post(
        "/api/v1/fx/rates",
        content=f"Date,USD,GBP,\n{today},{usd_per_eur},0.83455,\n".encode(),
        headers=tenant.headers | {"Content-Type": "text/csv"},
    )
    assert sent.status_code == 200, sent.text


def test_limits_compare_in_usd(client: TestClient, tenant: Tenant) -> None:
    import_rates(client, tenant)  # 1 EUR = 1.0450 USD
    fixed_program(client, tenant, key="eu-high", amount="240.00", currency="EUR")
    fixed_program(
        client,
        tenant,
        key="eu-low",
        amount="239.00",
        currency="EUR",
        conditions={"course_ids": ["LOW-1"]},
    )
    high = client.post(
        "/api/v1/completions", headers=tenant.headers, json=partner_event("e-1")
    ).json()["rewards"]
    by_program = {r["amount"]["amount"]: r for r in high}
    # 240.00 EUR is 250.80 USD: above 250.00.
    assert reasons(by_program["240.00"]) == ["fcpa_review"]
    assert "250.80 USD" in by_program["240.00"]["hold_reasons"][0]["message"]
    low = client.post(
        "/api/v1/completions",
        headers=tenant.headers,
        json=partner_event("e-2", learner="P2", course="LOW-1"),
    ).json()["rewards"]
    low_reward = next(r for r in low if r["amount"]["amount"] == "239.00")
    assert low_reward["state"] == "ready"  # 249.76 USD


def test_without_a_rate_compliance_reviews(client: TestClient, tenant: Tenant) -> None:
    fixed_program(client, tenant, amount="10.00", currency="EUR")
    held = earn(client, tenant, partner_event("e-1"))
    # The tax gate (order 200) cannot total a partner's year without a rate either.
    assert reasons(held) == ["fx_rate_unavailable", "fcpa_review"]
    assert "no USD rate" in held["hold_reasons"][1]["message"]
