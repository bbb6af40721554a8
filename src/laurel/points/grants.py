"""Manual grants: points for activities without an LMS event (instructor-led sessions,
role-plays), given by an admin with a reason, audited, and above the organization's threshold
held until a second admin approves."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import Conflict, Forbidden, NotFound, field_error
from laurel.kit.ids import uuid7
from laurel.kit.sql import insert_ignore
from laurel.learners import service as learners
from laurel.points import ledger, setup
from laurel.points.models import GrantState, PointsGrant, TransactionKind

ACTIVITIES = ("instructor_led", "role_play", "event", "correction", "other")


class GrantNotFound(NotFound):
    code = "points_grant_not_found"


class GrantDecided(Conflict):
    code = "points_grant_decided"


def request_grant(
    session: Session,
    actor: Actor,
    *,
    learner_id: uuid.UUID,
    points: int,
    reason: str,
    activity: str = "other",
    program_id: uuid.UUID | None = None,
    request_key: str | None = None,
) -> PointsGrant:
    """Grant points now, or hold the grant for approval when above the threshold.

    ``request_key`` makes the request idempotent: asking again answers the first grant.
    """
    if points < 1:
        raise field_error("points", "must be 1 or more")
    if not reason.strip():
        raise field_error("reason", "say why the points are granted")
    if activity not in ACTIVITIES:
        raise field_error("activity", f"use one of {', '.join(ACTIVITIES)}")
    learners.get(session, actor, learner_id)  # 404 for a learner of another organization
    threshold = setup.get(session, actor.organization_id).grant_approval_threshold
    needs_approval = threshold is not None and points > threshold
    grant_id = uuid7()
    key = request_key or str(grant_id)
    inserted = insert_ignore(
        session,
        PointsGrant.__table__,  # type: ignore[arg-type]
        {
            "id": grant_id,
            "organization_id": actor.organization_id,
            "livemode": actor.livemode,
            "request_key": key,
            "learner_id": learner_id,
            "program_id": program_id,
            "points": points,
            "reason": reason.strip(),
            "activity": activity,
            "state": GrantState.pending,
            "requested_by": actor.name,
            "created_at": utcnow(),
        },
        ["organization_id", "livemode", "request_key"],
    )
    grant = session.scalars(
        select(PointsGrant).where(
            PointsGrant.organization_id == actor.organization_id,
            PointsGrant.livemode == actor.livemode,
            PointsGrant.request_key == key,
        )
    ).one()
    if not inserted:
        if grant.learner_id != learner_id or grant.points != points:
            raise Conflict(f"request key {key!r} was used for another grant ({grant.id})")
        return grant
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="points:grant:request",
        target_type="points_grant",
        target_id=grant.id,
        details={
            "learner_id": str(learner_id),
            "points": points,
            "reason": grant.reason,
            "activity": activity,
            "needs_approval": needs_approval,
            "threshold": threshold,
        },
    )
    if not needs_approval:
        _post(session, actor, grant)
    return grant


def _post(session: Session, actor: Actor, grant: PointsGrant) -> None:
    posting = ledger.post(
        session,
        ledger.Scope(grant.organization_id, grant.livemode),
        key=f"grant:{grant.id}",
        kind=TransactionKind.grant,
        legs=[(ledger.ADJUSTMENT, -grant.points), (ledger.wallet(grant.learner_id), grant.points)],
        actor=actor.name,
        program_id=grant.program_id,
        memo=grant.reason,
        details={"grant": str(grant.id), "activity": grant.activity},
    )
    grant.state = GrantState.posted
    grant.transaction_id = posting.transaction.id
    session.flush()


def _pending(session: Session, actor: Actor, grant_id: uuid.UUID) -> PointsGrant:
    grant = session.scalar(
        select(PointsGrant)
        .where(
            PointsGrant.organization_id == actor.organization_id,
            PointsGrant.livemode == actor.livemode,
            PointsGrant.id == grant_id,
        )
        .with_for_update()
    )
    if grant is None:
        raise GrantNotFound(f"no points grant {grant_id}")
    if grant.state != GrantState.pending:
        raise GrantDecided(f"the grant is already {grant.state}")
    return grant


def approve(session: Session, actor: Actor, grant_id: uuid.UUID) -> PointsGrant:
    """A second admin approves a held grant: the points are posted."""
    grant = _pending(session, actor, grant_id)
    if grant.requested_by == actor.name:
        raise Forbidden("a grant is approved by someone other than who asked for it")
    grant.decided_by, grant.decided_at = actor.name, utcnow()
    _post(session, actor, grant)
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="points:grant:approve",
        target_type="points_grant",
        target_id=grant.id,
        details={"points": grant.points},
    )
    return grant


def reject(session: Session, actor: Actor, grant_id: uuid.UUID, reason: str) -> PointsGrant:
    grant = _pending(session, actor, grant_id)
    grant.state = GrantState.rejected
    grant.decided_by, grant.decided_at = actor.name, utcnow()
    session.flush()
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="points:grant:reject",
        target_type="points_grant",
        target_id=grant.id,
        details={"reason": reason},
    )
    return grant


def list_grants(
    session: Session, actor: Actor, state: GrantState | None = None
) -> list[PointsGrant]:
    query = select(PointsGrant).where(
        PointsGrant.organization_id == actor.organization_id,
        PointsGrant.livemode == actor.livemode,
    )
    if state is not None:
        query = query.where(PointsGrant.state == state)
    return list(session.scalars(query.order_by(PointsGrant.id.desc()).limit(500)))
