"""Approval queue: pending requests, batch decisions, a reward's approval history.

Single decisions stay at ``POST /api/v1/rewards/{id}/approve|reject``. Any key may call these
routes; the service decides who may decide (roles, four eyes) and answers 403 otherwise.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from laurel.approvals import service
from laurel.approvals.models import Decision, Kind
from laurel.approvals.schemas import (
    ApprovalOut,
    BatchDecisionIn,
    BatchDecisionOut,
    BatchItemOut,
    PendingOut,
)
from laurel.kit.http import Cursor, DatabaseDep, Limit, Reader, errors, read_only, unit_of_work
from laurel.kit.schemas import PageOut

router = APIRouter(prefix="/api/v1/approvals", tags=["approvals"])


@router.get(
    "",
    response_model=PageOut[PendingOut],
    responses=errors(401, 403, 422),
    summary="List requests waiting for a decision, newest first",
)
def list_pending_approvals(
    actor: Reader,
    db: DatabaseDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    kind: Kind | None = None,
) -> PageOut[PendingOut]:
    with read_only(db) as session:
        page = service.list_pending(session, actor, limit=limit, cursor=cursor, kind=kind)
        return PageOut[PendingOut](
            data=[PendingOut.of_item(item) for item in page.items],
            next_cursor=str(page.next_cursor) if page.next_cursor else None,
        )


def _batch(
    actor: Reader, db: DatabaseDep, body: BatchDecisionIn, decision: Decision
) -> BatchDecisionOut:
    with unit_of_work(db) as session:
        results = service.decide_many(session, actor, body.reward_ids, decision, body.reason)
    decided = sum(r.ok for r in results)
    return BatchDecisionOut(
        decided=decided,
        failed=len(results) - decided,
        results=[BatchItemOut.of(r) for r in results],
    )


@router.post(
    "/approve",
    response_model=BatchDecisionOut,
    responses=errors(401, 403, 422),
    summary="Approve many held rewards; each succeeds or fails on its own",
)
def approve_rewards(actor: Reader, db: DatabaseDep, body: BatchDecisionIn) -> BatchDecisionOut:
    return _batch(actor, db, body, Decision.approved)


@router.post(
    "/reject",
    response_model=BatchDecisionOut,
    responses=errors(401, 403, 422),
    summary="Reject many held rewards; each succeeds or fails on its own",
)
def reject_rewards(actor: Reader, db: DatabaseDep, body: BatchDecisionIn) -> BatchDecisionOut:
    return _batch(actor, db, body, Decision.rejected)


@router.get(
    "/rewards/{reward_id}",
    response_model=list[ApprovalOut],
    responses=errors(401, 403, 404),
    summary="Every request and decision on a reward, oldest first",
)
def list_reward_approvals(
    reward_id: uuid.UUID, actor: Reader, db: DatabaseDep
) -> list[ApprovalOut]:
    with read_only(db) as session:
        return [ApprovalOut.of(row) for row in service.history(session, actor, reward_id)]
