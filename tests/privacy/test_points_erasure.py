"""Erasing a learner who has points: the person goes, the books stay and still balance."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from laurel.db import Database
from laurel.kit.clock import utcnow
from laurel.kit.errors import Unauthorized
from laurel.learners.models import Learner
from laurel.points import grants, ledger
from laurel.points.models import (
    LearnerPreference,
    PointsEntry,
    PointsTransaction,
    TransactionKind,
)
from laurel.portal import service as portal
from laurel.privacy import erasure
from laurel.rewards.models import Reward
from tests.conftest import Tenant
from tests.points.support import add_learner, add_program, scope
from tests.portal.support import session_for


def _books(database: Database, tenant: Tenant, who: uuid.UUID) -> dict[str, Any]:
    with database.read_session() as session:
        return {
            "transactions": session.scalar(select(func.count()).select_from(PointsTransaction)),
            "entries": session.scalar(select(func.count()).select_from(PointsEntry)),
            "sum": session.scalar(select(func.sum(PointsEntry.amount))),
            "wallet": ledger.balance(session, scope(tenant), who),
            "ok": ledger.reconcile(session, tenant.id).ok,
        }


def test_erasing_a_learner_with_points_keeps_the_ledger_and_says_so(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    with database.session() as session:
        ana = add_learner(session, tenant, "A1", name="Ana Díaz", country="DE")
        program = add_program(session, tenant)
        ledger.post(
            session,
            scope(tenant),
            key="seed",
            kind=TransactionKind.earn,
            legs=[(ledger.liability(program), -800), (ledger.wallet(ana), 800)],
            actor="test",
            program_id=program,
            memo="Security Awareness",
            occurred_at=utcnow(),
            expires_at=utcnow() + timedelta(days=20),
        )
        grants.request_grant(
            session, tenant.actor, learner_id=ana, points=200, reason="workshop", activity="event"
        )
    signed = session_for(database, ana)
    before = _books(database, tenant, ana)
    assert before["wallet"] == 1000
    assert before["ok"]

    made = client.post(
        "/api/v1/privacy/requests",
        headers=tenant.headers,
        json={"learner_id": str(ana), "kind": "deletion"},
    )
    assert made.status_code == 201, made.text
    done = client.post(
        f"/api/v1/privacy/requests/{made.json()['id']}/fulfil", headers=tenant.headers
    )
    assert done.status_code == 200, done.text
    outcome = done.json()["outcome"]
    assert outcome["pseudonymised"]["learners"] == 1
    assert outcome["deleted"]["learner_sessions"] == 1
    (points,) = [k for k in outcome["kept"] if "points_transactions" in k["records"]]
    assert {"points_accounts", "points_entries", "points_lots"} <= set(points["records"])
    assert "financial record" in points["reason"]
    assert "still balance" in points["reason"]
    assert points["until"] > utcnow().date().isoformat()

    # The books are exactly as they were, and still reconcile.
    assert _books(database, tenant, ana) == before
    with database.read_session() as session:
        person = session.get_one(Learner, ana)
        assert (person.name, person.email) == (None, None)
        pref = session.scalar(select(LearnerPreference).where(LearnerPreference.learner_id == ana))
        assert pref is not None
        assert pref.leaderboard_opt_out is True  # off the boards, not even as a pseudonym
        # The learner's session ended with the erasure.
        try:
            portal.resolve(session, signed.token)
        except Unauthorized:
            pass
        else:
            raise AssertionError("an erased learner's session still works")

    # Erasing again changes nothing more.
    with database.session() as session:
        erasure.erase(session, tenant.id, ana, actor="test", now=utcnow(), reason="again")
    assert _books(database, tenant, ana) == before

    # When the financial records' own period ends, the rewards go; the ledger still balances.
    with database.session() as session:
        session.execute(update(Reward).where(Reward.learner_id == ana).values(created_at=utcnow()))
        erasure.delete_financial(session, tenant.id, ana, actor="test")
    assert _books(database, tenant, ana) == before


def test_a_learner_with_points_is_not_deleted_outright(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    with database.session() as session:
        ana = add_learner(session, tenant, "A1")
        grants.request_grant(
            session, tenant.actor, learner_id=ana, points=50, reason="kick-off", activity="event"
        )
    gone = client.delete(f"/api/v1/learners/{ana}", headers=tenant.headers)
    assert gone.status_code == 409, gone.text
    assert "points" in gone.json()["detail"]
    with database.read_session() as session:
        assert session.get(Learner, ana) is not None


def test_a_learner_with_only_points_preferences_can_still_be_deleted(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    with database.session() as session:
        bo = add_learner(session, tenant, "B1")
    opted = client.put(
        f"/api/v1/points/learners/{bo}/preferences",
        headers=tenant.headers,
        json={"leaderboard_opt_out": True},
    )
    assert opted.status_code == 200, opted.text
    session_for(database, bo)
    assert client.delete(f"/api/v1/learners/{bo}", headers=tenant.headers).status_code == 204
    with database.read_session() as session:
        assert session.get(Learner, bo) is None
