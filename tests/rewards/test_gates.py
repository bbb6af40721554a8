"""The gate pipeline: approval thresholds and budget reservation."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Tenant, completion
from tests.factories import fixed_program, role_key

USD = "USD"


def money(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": USD}


def earn(client: TestClient, tenant: Tenant, event: str, learner: str = "E1") -> dict[str, Any]:
    response = client.post(
        "/api/v1/completions", headers=tenant.headers, json=completion(event, learner=learner)
    )
    assert response.status_code == 202, response.text
    reward: dict[str, Any] = response.json()["rewards"][0]
    return reward


def budget_of(client: TestClient, tenant: Tenant, program: dict[str, Any]) -> dict[str, Any]:
    view = client.get(f"/api/v1/programs/{program['id']}", headers=tenant.headers).json()
    budget: dict[str, Any] = view["budget"]
    return {k: v["amount"] for k, v in budget.items()}


def test_above_threshold_is_held_then_approved(
    client: TestClient, tenant: Tenant, database: Any
) -> None:
    fixed_program(client, tenant, amount="200.00", approval_threshold=money("150.00"))
    reward = earn(client, tenant, "e-1")
    assert reward["state"] == "held"
    assert reward["hold_reasons"][0]["reason"] == "approval_required"
    finance = role_key(database, tenant, "finance")
    approved = client.post(
        f"/api/v1/rewards/{reward['id']}/approve",
        headers=finance,
        json={"reason": "certified architect"},
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "ready"
    again = client.post(f"/api/v1/rewards/{reward['id']}/approve", headers=finance)
    assert again.status_code == 409


def test_rejected_is_cancelled_and_budget_untouched(
    client: TestClient, tenant: Tenant, database: Any
) -> None:
    program = fixed_program(
        client, tenant, amount="200.00", approval_threshold=money("150.00"), budget=money("1000.00")
    )
    reward = earn(client, tenant, "e-1")
    rejected = client.post(
        f"/api/v1/rewards/{reward['id']}/reject",
        headers=role_key(database, tenant, "finance"),
        json={"reason": "duplicate claim"},
    )
    assert rejected.json()["state"] == "cancelled"
    assert budget_of(client, tenant, program) == {
        "limit": "1000.00",
        "reserved": "0.00",
        "spent": "0.00",
        "available": "1000.00",
    }


def test_at_threshold_is_not_held(client: TestClient, tenant: Tenant) -> None:
    fixed_program(client, tenant, amount="150.00", approval_threshold=money("150.00"))
    assert earn(client, tenant, "e-1")["state"] == "ready"


def test_budget_reserved_then_spent_on_delivery(client: TestClient, tenant: Tenant) -> None:
    program = fixed_program(client, tenant, amount="30.00", budget=money("100.00"))
    earn(client, tenant, "e-1", "A")
    assert budget_of(client, tenant, program)["reserved"] == "30.00"
    client.app.state.worker.run_once()  # type: ignore[attr-defined]
    assert budget_of(client, tenant, program) == {
        "limit": "100.00",
        "reserved": "0.00",
        "spent": "30.00",
        "available": "70.00",
    }


def test_exhausted_budget_holds_then_top_up_releases_in_order(
    client: TestClient, tenant: Tenant
) -> None:
    program = fixed_program(client, tenant, amount="40.00", budget=money("100.00"))
    states = [earn(client, tenant, f"e-{n}", f"L{n}") for n in range(4)]
    assert [r["state"] for r in states] == ["ready", "ready", "held", "held"]
    assert states[2]["hold_reasons"][0]["reason"] == "budget_exhausted"
    topped = client.patch(
        f"/api/v1/programs/{program['id']}",
        headers=tenant.headers,
        json={"budget": money("140.00")},
    )
    assert topped.status_code == 200
    third = client.get(f"/api/v1/rewards/{states[2]['id']}", headers=tenant.headers).json()
    fourth = client.get(f"/api/v1/rewards/{states[3]['id']}", headers=tenant.headers).json()
    assert (third["state"], fourth["state"]) == ("ready", "held")
    assert budget_of(client, tenant, program)["available"] == "20.00"


def test_approval_before_budget(client: TestClient, tenant: Tenant, database: Any) -> None:
    """Money is not reserved for a reward that waits for approval."""
    program = fixed_program(
        client, tenant, amount="200.00", approval_threshold=money("100.00"), budget=money("250.00")
    )
    reward = earn(client, tenant, "e-1")
    assert [h["reason"] for h in reward["hold_reasons"]] == ["approval_required"]
    assert budget_of(client, tenant, program)["reserved"] == "0.00"
    finance = role_key(database, tenant, "finance")
    client.post(f"/api/v1/rewards/{reward['id']}/approve", headers=finance)
    assert budget_of(client, tenant, program)["reserved"] == "200.00"


def test_cancel_releases_budget(client: TestClient, tenant: Tenant) -> None:
    program = fixed_program(client, tenant, amount="30.00", budget=money("100.00"))
    reward = earn(client, tenant, "e-1")
    cancelled = client.post(
        f"/api/v1/rewards/{reward['id']}/cancel",
        headers=tenant.headers,
        json={"reason": "sent in error"},
    )
    assert cancelled.json()["state"] == "cancelled"
    assert budget_of(client, tenant, program)["reserved"] == "0.00"
    twice = client.post(f"/api/v1/rewards/{reward['id']}/cancel", headers=tenant.headers)
    assert twice.status_code == 409
    assert twice.json()["error"] == "invalid_transition"


def test_approve_needs_an_approver_role(client: TestClient, tenant: Tenant, database: Any) -> None:
    from laurel.auth import service as auth

    fixed_program(client, tenant, amount="200.00", approval_threshold=money("150.00"))
    reward = earn(client, tenant, "e-1")
    with database.session() as session:
        reader = auth.create_key(
            session, organization_id=tenant.id, scopes=["read"], livemode=True, actor="test"
        ).secret
    denied = client.post(
        f"/api/v1/rewards/{reward['id']}/approve", headers={"Authorization": f"Bearer {reader}"}
    )
    # The permission table refuses a key that stands for no approver role before the service.
    assert denied.status_code == 403
    assert denied.json()["error"] == "forbidden"
    # The admin key configured the program: it asked for the money and cannot approve it.
    own = client.post(f"/api/v1/rewards/{reward['id']}/approve", headers=tenant.headers)
    assert own.status_code == 403
    assert own.json()["error"] == "self_approval"
    assert (
        client.get(f"/api/v1/rewards/{reward['id']}", headers=tenant.headers).json()["state"]
        == "held"
    )


def test_list_rewards_filters_and_pages(client: TestClient, tenant: Tenant) -> None:
    program = fixed_program(client, tenant, amount="10.00")
    ids = [earn(client, tenant, f"e-{n}", f"L{n}")["id"] for n in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, "program_id": program["id"], "state": "ready"}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/rewards", headers=tenant.headers, params=params).json()
        seen += [r["id"] for r in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    none = client.get(
        "/api/v1/rewards", headers=tenant.headers, params={"state": "delivered"}
    ).json()
    assert none["data"] == []
    bad = client.get("/api/v1/rewards", headers=tenant.headers, params={"state": "lost"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["field"] == "query.state"
