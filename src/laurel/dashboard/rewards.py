"""Rewards: search and filter, detail with the audit timeline, held rewards by reason, and the
approve/reject forms (four-eyes and role errors are shown on the page, plainly)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from laurel.approvals import service as approvals
from laurel.approvals.models import Decision
from laurel.audit import service as audit
from laurel.dashboard import queries
from laurel.dashboard.render import allowed, brand_of, message_of, page
from laurel.kit.actor import Actor
from laurel.kit.errors import AppError
from laurel.kit.http import Admin, DatabaseDep, Reader, read_only, unit_of_work
from laurel.learners import service as learners
from laurel.rewards import service as rewards
from laurel.rewards.models import RewardState

router = APIRouter()


@router.get("/dashboard/rewards", response_class=HTMLResponse)
def rewards_page(
    request: Request,
    actor: Reader,
    db: DatabaseDep,
    state: Annotated[RewardState | None, Query()] = None,
    program: Annotated[uuid.UUID | None, Query()] = None,
    learner: Annotated[str | None, Query(max_length=320)] = None,
    hold_reason: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    with read_only(db) as session:
        found = queries.rewards(
            session,
            actor,
            state=state,
            program_id=program,
            learner=learner or None,
            hold_reason=hold_reason or None,
        )
        # Rendered inside the read: the rows stay loaded until the page is built.
        return page(
            request,
            actor,
            "rewards.html",
            brand=brand_of(session, actor.organization_id),
            found=found,
            states=list(RewardState),
            reasons=sorted(queries.ACTIONS),
            programs=queries.program_keys(session, actor),
            filters={
                "state": state or "",
                "program": str(program or ""),
                "learner": learner or "",
                "hold_reason": hold_reason or "",
            },
        )


def _detail(
    request: Request, actor: Actor, db: DatabaseDep, reward_id: uuid.UUID, **extra: object
) -> HTMLResponse:
    with read_only(db) as session:
        reward = rewards.get(session, actor, reward_id)
        learner = learners.get(session, actor, reward.learner_id)
        timeline = list(
            reversed(
                audit.list_entries(
                    session,
                    actor.organization_id,
                    target_type="reward",
                    target_id=str(reward.id),
                    limit=500,
                )
            )
        )
        status_code = int(str(extra.pop("status_code", 200)))
        return page(
            request,
            actor,
            "reward.html",
            brand=brand_of(session, actor.organization_id),
            status_code=status_code,
            reward=reward,
            learner=learner,
            timeline=timeline,
            may_decide=allowed(actor, "/dashboard/rewards/{reward_id}/approve", "POST"),
            **extra,
        )


@router.get("/dashboard/rewards/{reward_id}", response_class=HTMLResponse)
def reward_page(
    request: Request, reward_id: uuid.UUID, actor: Reader, db: DatabaseDep
) -> HTMLResponse:
    return _detail(request, actor, db, reward_id)


@router.get("/dashboard/held", response_class=HTMLResponse)
def held_page(request: Request, actor: Reader, db: DatabaseDep) -> HTMLResponse:
    with read_only(db) as session:
        return page(
            request,
            actor,
            "held.html",
            brand=brand_of(session, actor.organization_id),
            groups=queries.held_by_reason(session, actor),
            may_decide=allowed(actor, "/dashboard/rewards/{reward_id}/approve", "POST"),
        )


def _decide(
    request: Request,
    actor: Actor,
    db: DatabaseDep,
    reward_id: uuid.UUID,
    decision: Decision,
    reason: str,
    back: str,
) -> Response:
    try:
        with unit_of_work(db) as session:
            approvals.decide(session, actor, reward_id, decision, reason.strip())
    except AppError as exc:
        if exc.status == status.HTTP_404_NOT_FOUND:
            raise
        return _detail(request, actor, db, reward_id, error=message_of(exc), status_code=exc.status)
    target = back if back.startswith("/dashboard/") else f"/dashboard/rewards/{reward_id}"
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


Reason = Annotated[str, Form(max_length=1000)]
Back = Annotated[str, Form(max_length=500)]


@router.post("/dashboard/rewards/{reward_id}/approve", response_class=HTMLResponse)
def approve(
    request: Request,
    reward_id: uuid.UUID,
    actor: Admin,
    db: DatabaseDep,
    reason: Reason = "",
    back: Back = "",
) -> Response:
    return _decide(request, actor, db, reward_id, Decision.approved, reason, back)


@router.post("/dashboard/rewards/{reward_id}/reject", response_class=HTMLResponse)
def reject(
    request: Request,
    reward_id: uuid.UUID,
    actor: Admin,
    db: DatabaseDep,
    reason: Reason = "",
    back: Back = "",
) -> Response:
    return _decide(request, actor, db, reward_id, Decision.rejected, reason, back)
