"""Manual grants: a reason, an audit entry, and a second admin above the threshold."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from laurel.audit.models import AuditEntry
from laurel.db import Database
from laurel.kit.errors import Conflict, Forbidden, Invalid
from laurel.points import grants, ledger, setup
from laurel.points.models import GrantState
from tests.conftest import Tenant
from tests.points.support import learners, scope


def test_grants_below_the_threshold_post_and_above_wait_for_another_admin(
    database: Database, tenant: Tenant
) -> None:
    (ana,) = learners(database, tenant, 1)
    second = dataclasses.replace(tenant.actor, name="apikey:second")
    with database.session() as session:
        setup.update(session, tenant.actor, {"grant_approval_threshold": 1000})
        small = grants.request_grant(
            session,
            tenant.actor,
            learner_id=ana,
            points=400,
            reason="role-play",
            activity="role_play",
        )
        assert small.state == GrantState.posted
        big = grants.request_grant(
            session,
            tenant.actor,
            learner_id=ana,
            points=2000,
            reason="instructor-led workshop",
            activity="instructor_led",
            request_key="ws-1",
        )
        assert big.state == GrantState.pending
        assert ledger.balance(session, scope(tenant), ana) == 400
        again = grants.request_grant(
            session, tenant.actor, learner_id=ana, points=2000, reason="x", request_key="ws-1"
        )
        assert again.id == big.id
        with pytest.raises(Conflict):
            grants.request_grant(
                session, tenant.actor, learner_id=ana, points=5, reason="x", request_key="ws-1"
            )
    with pytest.raises(Forbidden), database.session() as session:
        grants.approve(session, tenant.actor, big.id)
    with database.session() as session:
        grants.approve(session, second, big.id)
        assert ledger.balance(session, scope(tenant), ana) == 2400
        with pytest.raises(grants.GrantDecided):
            grants.reject(session, second, big.id, "too late")
    with database.session() as session:  # audit entries are written at commit
        actions = list(
            session.scalars(
                select(AuditEntry.action).where(AuditEntry.action.like("points:grant:%"))
            )
        )
        assert sorted(actions) == [
            "points:grant:approve",
            "points:grant:request",
            "points:grant:request",
        ]


def test_grant_input_is_checked_field_by_field(database: Database, tenant: Tenant) -> None:
    (ana,) = learners(database, tenant, 1)
    with database.session() as session:
        for kwargs, field in (
            ({"points": 0, "reason": "x"}, "points"),
            ({"points": 5, "reason": "  "}, "reason"),
            ({"points": 5, "reason": "x", "activity": "party"}, "activity"),
        ):
            with pytest.raises(Invalid) as caught:
                grants.request_grant(session, tenant.actor, learner_id=ana, **kwargs)  # type: ignore[arg-type]
            assert caught.value.detail[0]["field"] == field
