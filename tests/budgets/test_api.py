"""Budgets through the API: per program, per department, per period; every budget that applies
must cover a reward; raising one releases the rewards waiting for it, oldest first."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from laurel.budgets.service import window_of
from laurel.db import Database
from laurel.kit.clock import utcnow
from tests.conftest import Tenant, completion
from tests.factories import fixed_program, role_key

BUDGETS = "/api/v1/budgets"


def money(amount: str, currency: str = "USD") -> dict[str, str]:
    return {"amount": amount, "currency": currency}


def earn(
    client: TestClient, tenant: Tenant, event: str, learner: str, department: str = "Sales"
) -> dict[str, Any]:
    body = completion(event, learner=learner)
    body["learner"]["department"] = department
    response = client.post("/api/v1/completions", headers=tenant.headers, json=body)
    assert response.status_code == 202, response.text
    reward: dict[str, Any] = response.json()["rewards"][0]
    return reward


def create(client: TestClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = client.post(BUDGETS, headers=tenant.headers, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def state(client: TestClient, tenant: Tenant, reward_id: str) -> str:
    found: str = client.get(f"/api/v1/rewards/{reward_id}", headers=tenant.headers).json()["state"]
    return found


def test_department_budget_applies_only_to_its_department(
    client: TestClient, tenant: Tenant
) -> None:
    fixed_program(client, tenant, amount="40.00")
    sales = create(client, tenant, limit=money("100.00"), department="Sales", name="Sales FY")
    assert (sales["department"], sales["program_id"], sales["period"]) == ("Sales", None, "total")
    made = [earn(client, tenant, f"s-{n}", f"S{n}") for n in range(3)]
    other = earn(client, tenant, "o-1", "O1", department="Support")
    assert [r["state"] for r in made] == ["ready", "ready", "held"]
    assert made[2]["hold_reasons"][0] == {
        "gate": "budget",
        "reason": "budget_exhausted",
        "message": "the organization's budget for department Sales does not cover this reward",
    }
    assert other["state"] == "ready"
    shown = client.get(f"{BUDGETS}/{sales['id']}", headers=tenant.headers).json()
    assert (shown["reserved"], shown["available"]) == (money("80.00"), money("20.00"))
    listed = client.get(BUDGETS, headers=tenant.headers, params={"department": "Sales"}).json()
    assert [b["id"] for b in listed] == [sales["id"]]


def test_every_applicable_budget_must_cover_the_reward(client: TestClient, tenant: Tenant) -> None:
    """The program's budget has room; the department's has not: nothing is reserved anywhere."""
    program = fixed_program(client, tenant, amount="40.00", budget=money("1000.00"))
    create(client, tenant, limit=money("50.00"), department="Sales")
    first = earn(client, tenant, "e-1", "A")
    second = earn(client, tenant, "e-2", "B")
    assert (first["state"], second["state"]) == ("ready", "held")
    budgets = {
        (b["program_id"], b["department"]): b["reserved"]["amount"]
        for b in client.get(BUDGETS, headers=tenant.headers).json()
    }
    assert budgets == {(program["id"], None): "40.00", (None, "Sales"): "40.00"}


def test_raising_a_budget_releases_held_rewards_in_order(
    client: TestClient, tenant: Tenant
) -> None:
    fixed_program(client, tenant, amount="40.00")
    budget = create(client, tenant, limit=money("40.00"), period="monthly")
    made = [earn(client, tenant, f"e-{n}", f"L{n}") for n in range(4)]
    assert [r["state"] for r in made] == ["ready", "held", "held", "held"]
    raised = client.patch(
        f"{BUDGETS}/{budget['id']}", headers=tenant.headers, json={"limit": money("120.00")}
    )
    assert raised.status_code == 200, raised.text
    assert raised.json()["available"] == money("0.00")
    assert [state(client, tenant, r["id"]) for r in made] == ["ready", "ready", "ready", "held"]
    # Lowering releases nothing and takes nothing back.
    lowered = client.patch(
        f"{BUDGETS}/{budget['id']}", headers=tenant.headers, json={"limit": money("10.00")}
    )
    assert lowered.json()["available"] == money("-110.00")
    assert state(client, tenant, made[3]["id"]) == "held"


def test_periodic_windows(client: TestClient, tenant: Tenant) -> None:
    assert window_of("monthly", date(2026, 12, 31)) == (date(2026, 12, 1), date(2027, 1, 1))
    assert window_of("quarterly", date(2026, 11, 26)) == (date(2026, 10, 1), date(2027, 1, 1))
    assert window_of("quarterly", date(2026, 2, 1)) == (date(2026, 1, 1), date(2026, 4, 1))
    assert window_of("yearly", date(2026, 6, 1)) == (date(2026, 1, 1), date(2027, 1, 1))
    fixed_program(client, tenant, amount="10.00")
    quarterly = create(client, tenant, limit=money("100.00"), period="quarterly")
    earn(client, tenant, "e-1", "A")
    today = client.get(f"{BUDGETS}/{quarterly['id']}", headers=tenant.headers).json()
    assert today["reserved"] == money("10.00")
    start, end = window_of("quarterly", date.fromisoformat(today["window_start"]))
    assert end is not None
    assert (today["window_start"], today["window_end"]) == (start.isoformat(), end.isoformat())
    # Another quarter has its own, untouched window.
    earlier = date(start.year - 1, start.month, 1).isoformat()
    past = client.get(
        f"{BUDGETS}/{quarterly['id']}", headers=tenant.headers, params={"on": earlier}
    ).json()
    assert (past["reserved"], past["available"]) == (money("0.00"), money("100.00"))


def test_delivery_spends_and_cancel_releases_on_every_budget(
    client: TestClient, tenant: Tenant
) -> None:
    program = fixed_program(client, tenant, amount="30.00", budget=money("100.00"))
    dept = create(client, tenant, limit=money("100.00"), department="Sales", period="yearly")
    paid = earn(client, tenant, "e-1", "A")
    dropped = earn(client, tenant, "e-2", "B")
    client.post(
        f"/api/v1/rewards/{dropped['id']}/cancel", headers=tenant.headers, json={"reason": "x"}
    )
    client.app.state.worker.run_once()  # type: ignore[attr-defined]
    assert state(client, tenant, paid["id"]) == "delivered"
    for budget in client.get(BUDGETS, headers=tenant.headers).json():
        assert (budget["reserved"], budget["spent"]) == (money("0.00"), money("30.00")), budget
    assert {b["id"] for b in client.get(BUDGETS, headers=tenant.headers).json()} >= {dept["id"]}
    assert program["id"]


def test_test_mode_never_touches_budgets(client: TestClient, tenant: Tenant) -> None:
    fixed_program(client, tenant, amount="30.00")
    create(client, tenant, limit=money("0.00"))
    body = completion("t-1")
    reward = client.post("/api/v1/completions", headers=tenant.test_headers, json=body).json()
    assert reward["rewards"][0]["state"] == "ready"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"limit": {"amount": 5, "currency": "USD"}}, "limit.amount"),
        ({"limit": money("5.00"), "period": "weekly"}, "period"),
        ({"limit": money("5.00"), "department": ""}, "department"),
        ({"limit": money("-5.00")}, "limit"),
        (
            {"limit": money("5.00"), "program_id": "00000000-0000-7000-8000-000000000000"},
            "program_id",
        ),
        ({"limit": money("5.00"), "colour": "red"}, "colour"),
    ],
)
def test_bad_budgets_name_the_field(
    client: TestClient, tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    response = client.post(BUDGETS, headers=tenant.headers, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["field"] == field


def test_program_budget_keeps_the_program_currency(client: TestClient, tenant: Tenant) -> None:
    program = fixed_program(client, tenant, amount="30.00")
    response = client.post(
        BUDGETS,
        headers=tenant.headers,
        json={"limit": money("5.00", "EUR"), "program_id": program["id"]},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0] == {
        "field": "limit.currency",
        "message": "the program pays in USD; its budget is kept in USD",
        "type": "value_error",
    }


def test_one_budget_per_scope_and_delete(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant, amount="30.00")
    budget = create(client, tenant, limit=money("100.00"), department="Sales", period="monthly")
    twice = client.post(
        BUDGETS,
        headers=tenant.headers,
        json={"limit": money("5.00"), "department": "Sales", "period": "monthly"},
    )
    assert (twice.status_code, twice.json()["error"]) == (409, "budget_exists")
    reward = earn(client, tenant, "e-1", "A")
    busy = client.delete(f"{BUDGETS}/{budget['id']}", headers=tenant.headers)
    assert busy.status_code == 409
    client.post(f"/api/v1/rewards/{reward['id']}/cancel", headers=tenant.headers, json={})
    gone = client.delete(f"{BUDGETS}/{budget['id']}", headers=tenant.headers)
    assert gone.status_code == 204
    missing = client.get(f"{BUDGETS}/{budget['id']}", headers=tenant.headers)
    assert (missing.status_code, missing.json()["error"]) == (404, "budget_not_found")
    # Finance changes budgets (a key standing for the finance role, or a live admin key);
    # a plain reading key and test-mode keys may not.
    finance = role_key(database, tenant, "finance")
    assert client.get(BUDGETS, headers=finance).status_code == 200
    made = client.post(BUDGETS, headers=finance, json={"limit": money("1.00")})
    assert made.status_code == 201, made.text
    reader = role_key(database, tenant)
    assert client.post(BUDGETS, headers=reader, json={"limit": money("1.00")}).status_code == 403
    test_mode = client.post(BUDGETS, headers=tenant.test_headers, json={"limit": money("1.00")})
    assert test_mode.status_code == 403


def test_budget_in_another_currency_counts_at_the_rate_of_the_day(
    client: TestClient, tenant: Tenant
) -> None:
    today = utcnow().date().isoformat()
    sent = client.post(
        "/api/v1/fx/rates",
        content=f"Date,USD,\n{today},1.0450,\n".encode(),
        headers=tenant.headers | {"Content-Type": "text/csv"},
    )
    assert sent.status_code == 200, sent.text
    fixed_program(client, tenant, amount="200.00", currency="EUR")
    budget = create(client, tenant, limit=money("300.00"), department="Sales")
    first = earn(client, tenant, "e-1", "A")
    second = earn(client, tenant, "e-2", "B")
    assert (first["state"], second["state"]) == ("ready", "held")
    shown = client.get(f"{BUDGETS}/{budget['id']}", headers=tenant.headers).json()
    assert shown["reserved"] == money("209.00")  # 200.00 EUR at 1.0450


def test_budget_in_another_currency_without_a_rate_holds(
    client: TestClient, tenant: Tenant
) -> None:
    fixed_program(client, tenant, amount="20.00", currency="EUR")
    create(client, tenant, limit=money("300.00"))
    held = earn(client, tenant, "e-1", "A")
    assert held["hold_reasons"][0]["message"] == "no exchange rate from EUR to USD"
