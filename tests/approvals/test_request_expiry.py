"""Requests nobody decides expire: the worker's sweep cancels the reward (reason
``approval_expired``), releases its budget, tells webhooks as for any cancellation and writes
one audit entry per request. Decided requests never expire; an approval racing the sweep wins
or loses cleanly. Time moves by replacing the approvals service's clock, never by sleeping."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from laurel.approvals import service as approvals
from laurel.approvals.models import Approval, Decision
from laurel.audit.models import AuditEntry
from laurel.db import Database
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import AppError
from tests.approvals.test_workflow import earn, money, reward_of
from tests.conftest import Tenant
from tests.factories import fixed_program, role_key
from tests.fcpa.test_gate import partner_event


@pytest.fixture
def travel(monkeypatch: pytest.MonkeyPatch) -> Callable[[timedelta], datetime]:
    """Move the approvals clock forward from now; answers the instant it shows."""

    def to(delta: timedelta) -> datetime:
        moment = utcnow() + delta
        monkeypatch.setattr("laurel.approvals.service.utcnow", lambda: moment)
        return moment

    return to


def _history(client: TestClient, tenant: Tenant, reward_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.get(
        f"/api/v1/approvals/rewards/{reward_id}", headers=tenant.headers
    ).json()
    return found


def _audit(database: Database, action: str) -> list[AuditEntry]:
    with database.sessionmaker() as session:
        return list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
            )
        )


def test_an_undecided_request_expires_after_the_programs_days(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    travel: Callable[[timedelta], datetime],
) -> None:
    program = fixed_program(
        client,
        tenant,
        amount="200.00",
        approval_threshold=money("150.00"),
        budget=money("1000.00"),
    )
    assert program["approval_expiry_days"] == 14
    subscribed = client.post(
        "/api/v1/outgoing-webhooks/subscriptions",
        json={"url": "https://hooks.example/laurel", "event_types": ["reward.cancelled"]},
        headers=tenant.headers,
    )
    assert subscribed.status_code == 201, subscribed.text
    held = earn(client, tenant, "e-1")["id"]
    (request,) = _history(client, tenant, held)
    requested = datetime.fromisoformat(request["requested_at"])
    assert datetime.fromisoformat(request["expires_at"]) - requested == timedelta(days=14)

    worker = client.app.state.worker  # type: ignore[attr-defined]
    travel(timedelta(days=13, hours=23))
    assert worker.expire_approvals() == 0
    assert reward_of(client, tenant, held)["state"] == "held"

    travel(timedelta(days=14, minutes=1))
    assert worker.expire_approvals() == 1
    cancelled = reward_of(client, tenant, held)
    assert cancelled["state"] == "cancelled"
    assert cancelled["hold_reasons"] == []
    assert "no decision before the approval request expired" in cancelled["last_error"]
    (after,) = _history(client, tenant, held)
    assert (after["status"], after["actor"]) == ("expired", "worker")
    assert client.get("/api/v1/approvals", headers=tenant.headers).json()["data"] == []

    # One audit entry for the request, one for the reward's cancellation with its reason.
    (expired,) = _audit(database, "approvals:approval:request_expired")
    assert expired.target_id == held
    assert expired.details["round"] == 1
    (moved,) = _audit(database, "rewards:reward:cancelled")
    assert moved.details["reason"] == "approval_expired"
    # Held rewards hold no money (the budget gate runs last), and none is held now.
    budget = client.get(f"/api/v1/programs/{program['id']}", headers=tenant.headers).json()
    assert budget["budget"]["reserved"]["amount"] == "0.00"
    # Webhooks hear of it as of any cancellation.
    messages = client.get(
        f"/api/v1/outgoing-webhooks/subscriptions/{subscribed.json()['id']}/messages",
        headers=tenant.headers,
    ).json()["data"]
    assert [m["event_type"] for m in messages] == ["reward.cancelled"]
    # Nothing is left to expire; an approver now finds nothing to decide.
    assert worker.expire_approvals() == 0
    late = client.post(
        f"/api/v1/rewards/{held}/approve", headers=role_key(database, tenant, "finance")
    )
    assert (late.status_code, late.json()["error"]) == (409, "not_awaiting_approval")


def test_the_program_sets_the_days(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    travel: Callable[[timedelta], datetime],
) -> None:
    program = fixed_program(
        client, tenant, amount="200.00", approval_threshold=money("150.00"), approval_expiry_days=3
    )
    assert program["approval_expiry_days"] == 3
    bad = client.patch(
        f"/api/v1/programs/{program['id']}",
        headers=tenant.headers,
        json={"approval_expiry_days": 0},
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["field"] == "approval_expiry_days"
    held = earn(client, tenant, "e-1")["id"]
    travel(timedelta(days=3, seconds=1))
    with database.session() as session:
        assert approvals.sweep(session) == 1
    assert reward_of(client, tenant, held)["state"] == "cancelled"


def test_decided_requests_never_expire(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    travel: Callable[[timedelta], datetime],
) -> None:
    fixed_program(client, tenant, amount="200.00", approval_threshold=money("150.00"))
    finance = role_key(database, tenant, "finance")
    approved = earn(client, tenant, "e-1", "L1")["id"]
    rejected = earn(client, tenant, "e-2", "L2")["id"]
    assert client.post(f"/api/v1/rewards/{approved}/approve", headers=finance).status_code == 200
    assert client.post(f"/api/v1/rewards/{rejected}/reject", headers=finance).status_code == 200
    travel(timedelta(days=15))
    with database.session() as session:
        assert approvals.expire_pending(session) == 0
    assert [h["status"] for h in _history(client, tenant, rejected)] == ["rejected"]
    assert reward_of(client, tenant, rejected)["state"] == "cancelled"
    assert _audit(database, "approvals:approval:request_expired") == []


def test_both_holds_close_with_the_reward(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    travel: Callable[[timedelta], datetime],
) -> None:
    """An FCPA and a threshold request on one reward: the reward is cancelled once and each
    request gets its own audit entry."""
    fixed_program(client, tenant, amount="300.00", approval_threshold=money("150.00"))
    response = client.post("/api/v1/completions", headers=tenant.headers, json=partner_event("e-1"))
    (reward,) = response.json()["rewards"]
    assert {h["reason"] for h in reward["hold_reasons"]} >= {"fcpa_review", "approval_required"}
    travel(timedelta(days=15))
    with database.session() as session:
        assert approvals.sweep(session) == 2
    cancelled = reward_of(client, tenant, reward["id"])
    assert cancelled["state"] == "cancelled"
    assert "approval, fcpa" in cancelled["last_error"]
    assert {h["status"] for h in _history(client, tenant, reward["id"])} == {"expired"}
    assert len(_audit(database, "approvals:approval:request_expired")) == 1
    assert len(_audit(database, "approvals:fcpa:request_expired")) == 1
    assert len(_audit(database, "rewards:reward:cancelled")) == 1


def test_an_approval_racing_the_sweep_decides_once(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    travel: Callable[[timedelta], datetime],
) -> None:
    """The approver and the sweep hit one reward at once, each in its own transaction: the
    request ends either approved (the sweep skips it) or expired (the approver gets 409),
    never both, and the reward's state agrees."""
    fixed_program(client, tenant, amount="200.00", approval_threshold=money("150.00"))
    rewards = [earn(client, tenant, f"e-{n}", f"L{n}")["id"] for n in range(4)]
    travel(timedelta(days=15))
    approver = Actor(name="apikey:racer", organization_id=tenant.id, roles=frozenset({"finance"}))
    barrier = threading.Barrier(2)

    def approve() -> list[str]:
        barrier.wait(timeout=30)
        outcomes = []
        for reward_id in rewards:
            try:
                with database.session() as session:
                    approvals.decide(
                        session, approver, uuid.UUID(reward_id), Decision.approved, "race"
                    )
                outcomes.append("approved")
            except AppError as exc:
                outcomes.append(exc.code)
        return outcomes

    def sweep() -> int:
        barrier.wait(timeout=30)
        with database.session() as session:
            return approvals.expire_pending(session)

    with ThreadPoolExecutor(2) as pool:
        decided = pool.submit(approve)
        swept = pool.submit(sweep)
        outcomes, expired = decided.result(timeout=60), swept.result(timeout=60)
    assert set(outcomes) <= {"approved", "not_awaiting_approval"}
    assert outcomes.count("approved") + expired == len(rewards)
    with database.sessionmaker() as session:
        rows = {
            str(r.reward_id): r.status
            for r in session.scalars(select(Approval).where(Approval.round == 1))
        }
    for reward_id, outcome in zip(rewards, outcomes, strict=True):
        state = reward_of(client, tenant, reward_id)["state"]
        if outcome == "approved":
            assert (rows[reward_id], state) == ("approved", "ready")
        else:
            assert (rows[reward_id], state) == ("expired", "cancelled")
    assert len(_audit(database, "approvals:approval:request_expired")) == expired
