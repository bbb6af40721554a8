"""Approval workflow through the API: roles, four eyes, the pending queue, batch decisions,
rounds and expiry (the sweep of the worker and of `laurel approvals expire`)."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from laurel.approvals import service as approvals
from laurel.approvals.models import Approval, Decision
from laurel.audit.models import AuditEntry
from laurel.db import Database
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import AppError, Forbidden
from tests.cli.test_commands import laurel
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


def reward_of(client: TestClient, tenant: Tenant, reward_id: str) -> dict[str, Any]:
    found: dict[str, Any] = client.get(
        f"/api/v1/rewards/{reward_id}", headers=tenant.headers
    ).json()
    return found


def lapse(database: Database, reward_id: str) -> None:
    """Move the reward's approval deadline into the past (test set-up: no waiting a week)."""
    with database.session() as session:
        session.execute(
            update(Approval)
            .where(Approval.reward_id == uuid.UUID(reward_id), Approval.status == "approved")
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )


def test_pending_queue_and_decision_record(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    program = fixed_program(client, tenant, amount="200.00", approval_threshold=money("150.00"))
    held = earn(client, tenant, "e-1")
    queue = client.get("/api/v1/approvals", headers=tenant.headers).json()["data"]
    assert len(queue) == 1
    request = queue[0]
    assert request["reward_id"] == held["id"]
    assert request["kind"] == "approval"
    assert request["status"] == "pending"
    assert request["roles"] == ["finance", "org_admin"]
    assert request["amount"] == money("200.00")
    assert request["program_id"] == program["id"]
    # The program was set up by the tenant's admin key: that key asked for the money.
    assert request["requester"].startswith("apikey:")
    assert client.get("/api/v1/approvals?kind=fcpa", headers=tenant.headers).json()["data"] == []

    finance = role_key(database, tenant, "finance")
    approved = client.post(
        f"/api/v1/rewards/{held['id']}/approve", headers=finance, json={"reason": "ok"}
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "ready"
    assert client.get("/api/v1/approvals", headers=tenant.headers).json()["data"] == []
    history = client.get(f"/api/v1/approvals/rewards/{held['id']}", headers=finance).json()
    assert [(h["round"], h["status"], h["reason"]) for h in history] == [(1, "approved", "ok")]
    assert history[0]["actor"] != history[0]["requester"]
    assert history[0]["expires_at"] is not None


def test_an_org_admin_other_than_the_requester_may_approve(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant, amount="200.00", approval_threshold=money("150.00"))
    held = earn(client, tenant, "e-1")
    other_admin = role_key(database, tenant, "org_admin")
    approved = client.post(f"/api/v1/rewards/{held['id']}/approve", headers=other_admin)
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "ready"


def test_four_eyes_compares_the_person_behind_the_caller(
    database: Database, tenant: Tenant
) -> None:
    """A user acting through another key is still the requester (``Actor.identities``)."""
    person = uuid.uuid4()
    requester = Actor(
        name=f"user:{person}", organization_id=tenant.id, roles=frozenset({"org_admin"})
    )
    same_person = Actor(
        name="apikey:other",
        organization_id=tenant.id,
        roles=frozenset({"finance"}),
        user_id=person,
    )
    assert requester.name in same_person.identities
    request = Approval(requester=requester.name, kind="approval", round=1)
    with pytest.raises(Forbidden) as refused:
        approvals.check_four_eyes(same_person, [request])
    assert refused.value.code == "self_approval"
    approvals.check_four_eyes(
        Actor(name="apikey:x", organization_id=tenant.id, roles=frozenset({"finance"})), [request]
    )


def test_batch_approve_answers_each_item(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant, amount="200.00", approval_threshold=money("150.00"))
    held = [earn(client, tenant, f"e-{n}", f"L{n}")["id"] for n in range(3)]
    finance = role_key(database, tenant, "finance")
    first = client.post(f"/api/v1/rewards/{held[0]}/approve", headers=finance)
    assert first.status_code == 200
    unknown = str(uuid.uuid4())
    response = client.post(
        "/api/v1/approvals/approve",
        headers=finance,
        json={"reward_ids": [held[0], held[1], unknown, held[2], held[1]], "reason": "Q4 batch"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["decided"], body["failed"]) == (2, 3)
    outcome = [(r["reward_id"], r["ok"], r["state"], r["error"]) for r in body["results"]]
    assert outcome == [
        (held[0], False, None, "not_awaiting_approval"),
        (held[1], True, "ready", None),
        (unknown, False, None, "reward_not_found"),
        (held[2], True, "ready", None),
        (held[1], False, None, "duplicate"),
    ]
    with database.sessionmaker() as session:
        decided = session.scalars(
            select(AuditEntry.target_id).where(AuditEntry.action == "approvals:approval:approved")
        ).all()
    # One entry per decision: the single approval and the two in the batch, nothing for failures.
    assert sorted(decided) == sorted([held[0], held[1], held[2]])


def test_batch_without_the_role_fails_every_item_and_changes_nothing(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant, amount="200.00", approval_threshold=money("150.00"))
    held = [earn(client, tenant, f"e-{n}", f"L{n}")["id"] for n in range(2)]
    compliance = role_key(database, tenant, "compliance")
    body = client.post(
        "/api/v1/approvals/approve", headers=compliance, json={"reward_ids": held}
    ).json()
    assert body["decided"] == 0
    assert {r["error"] for r in body["results"]} == {"approver_role_required"}
    assert all(reward_of(client, tenant, r)["state"] == "held" for r in held)
    bad = client.post("/api/v1/approvals/approve", headers=compliance, json={"reward_ids": []})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["field"] == "reward_ids"


def test_batch_reject_cancels(client: TestClient, tenant: Tenant, database: Database) -> None:
    fixed_program(client, tenant, amount="200.00", approval_threshold=money("150.00"))
    held = earn(client, tenant, "e-1")["id"]
    finance = role_key(database, tenant, "finance")
    body = client.post(
        "/api/v1/approvals/reject", headers=finance, json={"reward_ids": [held], "reason": "no"}
    ).json()
    assert body["results"][0]["state"] == "cancelled"
    assert reward_of(client, tenant, held)["last_error"] == "rejected by an approver: no"


def test_lapsed_approval_of_a_held_reward_needs_a_new_decision(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    """Approved, then held for want of money: when the approval lapses the reward needs a
    second decision before the budget can pay it."""
    program = fixed_program(
        client,
        tenant,
        amount="200.00",
        approval_threshold=money("150.00"),
        budget=money("100.00"),
    )
    held = earn(client, tenant, "e-1")["id"]
    finance = role_key(database, tenant, "finance")
    after = client.post(f"/api/v1/rewards/{held}/approve", headers=finance).json()
    assert [h["reason"] for h in after["hold_reasons"]] == ["budget_exhausted"]
    lapse(database, held)
    with database.session() as session:
        assert approvals.expire_due(session) == 1
    again = reward_of(client, tenant, held)
    assert again["state"] == "held"
    assert [h["reason"] for h in again["hold_reasons"]] == ["approval_required"]
    history = client.get(f"/api/v1/approvals/rewards/{held}", headers=finance).json()
    assert [(h["round"], h["status"]) for h in history] == [(1, "expired"), (2, "pending")]
    # Raising the budget does not pay it: the new round is undecided.
    raised = client.patch(
        f"/api/v1/programs/{program['id']}",
        headers=tenant.headers,
        json={"budget": money("500.00")},
    )
    assert raised.status_code == 200
    assert reward_of(client, tenant, held)["state"] == "held"
    second = client.post(f"/api/v1/rewards/{held}/approve", headers=finance)
    assert second.json()["state"] == "ready"


def test_lapsed_approval_of_a_ready_reward_returns_its_money(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    program = fixed_program(
        client, tenant, amount="200.00", approval_threshold=money("150.00"), budget=money("500.00")
    )
    held = earn(client, tenant, "e-1")["id"]
    finance = role_key(database, tenant, "finance")
    assert (
        client.post(f"/api/v1/rewards/{held}/approve", headers=finance).json()["state"] == "ready"
    )
    budget = client.get(f"/api/v1/programs/{program['id']}", headers=tenant.headers).json()
    assert budget["budget"]["reserved"]["amount"] == "200.00"
    lapse(database, held)
    result = laurel("approvals", "expire", url=database.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1 approvals expired"
    again = reward_of(client, tenant, held)
    assert (again["state"], again["hold_reasons"][0]["reason"]) == ("held", "approval_required")
    budget = client.get(f"/api/v1/programs/{program['id']}", headers=tenant.headers).json()
    assert budget["budget"]["reserved"]["amount"] == "0.00"
    # Nothing else lapsed: a second sweep finds nothing.
    with database.session() as session:
        assert approvals.expire_due(session) == 0


def test_the_worker_sweeps_lapsed_approvals(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant, amount="200.00", approval_threshold=money("150.00"))
    rewards = [earn(client, tenant, f"e-{n}", f"L{n}")["id"] for n in range(2)]
    finance = role_key(database, tenant, "finance")
    for reward_id in rewards:
        client.post(f"/api/v1/rewards/{reward_id}/approve", headers=finance)
    lapse(database, rewards[1])
    client.app.state.worker.run_once()  # type: ignore[attr-defined]
    assert reward_of(client, tenant, rewards[0])["state"] == "delivered"
    lapsed = reward_of(client, tenant, rewards[1])
    assert (lapsed["state"], lapsed["hold_reasons"][0]["reason"]) == ("held", "approval_required")
    lapse(database, rewards[0])  # delivered: the approval was used and cannot lapse any more
    with database.session() as session:
        assert approvals.expire_due(session) == 0
    assert reward_of(client, tenant, rewards[0])["state"] == "delivered"


def test_unexpired_approval_survives_a_recheck(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(
        client, tenant, amount="200.00", approval_threshold=money("150.00"), budget=money("100.00")
    )
    held = earn(client, tenant, "e-1")["id"]
    client.post(f"/api/v1/rewards/{held}/approve", headers=role_key(database, tenant, "finance"))
    recheck = client.post(f"/api/v1/rewards/{held}/recheck", headers=tenant.headers).json()
    assert [h["reason"] for h in recheck["hold_reasons"]] == ["budget_exhausted"]
    with database.sessionmaker() as session:
        rounds = session.scalars(select(Approval.status).order_by(Approval.round)).all()
    assert rounds == ["approved"]


def test_two_approvers_racing_decide_once(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    """Both click at once, each in its own transaction: one decision, one audit entry."""
    fixed_program(client, tenant, amount="200.00", approval_threshold=money("150.00"))
    held = uuid.UUID(earn(client, tenant, "e-1")["id"])
    deciders = [
        Actor(name=f"apikey:approver-{n}", organization_id=tenant.id, roles=frozenset({"finance"}))
        for n in range(2)
    ]
    barrier = threading.Barrier(2)

    def approve(actor: Actor) -> str:
        barrier.wait(timeout=30)
        try:
            with database.session() as session:
                approvals.decide(session, actor, held, Decision.approved, "race")
        except AppError as exc:
            return exc.code
        return "ok"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(approve, deciders))
    assert outcomes == ["not_awaiting_approval", "ok"]
    with database.sessionmaker() as session:
        decided = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "approvals:approval:approved")
        ).all()
        assert len(decided) == 1
        assert session.scalars(select(Approval.status)).all() == ["approved"]
