from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime
from sqlalchemy.orm import Session

from laurel.approvals import service as approvals
from laurel.approvals.models import Decision
from laurel.audit import service as audit
from laurel.auth.service import Scope
from laurel.catalog import conversions
from laurel.catalog.models import RewardConversion
from laurel.delivery import service as delivery
from laurel.kit.actor import Actor
from laurel.kit.http import (
    Admin,
    Cursor,
    DatabaseDep,
    Limit,
    Reader,
    errors,
    read_only,
    unit_of_work,
)
from laurel.kit.schemas import PageOut
from laurel.links import service as links
from laurel.rewards import service
from laurel.rewards.models import Reward, RewardState
from laurel.rewards.schemas import DeliveryOut, ReasonIn, RewardOut

router = APIRouter(prefix="/api/v1/rewards", tags=["rewards"])


def _link_urls(
    request: Request, session: Session, actor: Actor, reward_ids: list[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """Link URLs pay out like gift codes: admin keys see them, read-only keys do not."""
    if Scope.admin not in actor.scopes:
        return {}
    settings = request.app.state.settings
    return links.link_urls(
        session,
        actor.organization_id,
        reward_ids,
        public_url=settings.public_url,
        secret=settings.secret_key,
    )


def _payments(
    session: Session, actor: Actor, rewards: list[Reward]
) -> dict[uuid.UUID, RewardConversion]:
    return conversions.for_rewards(session, actor.organization_id, {r.id for r in rewards})


@router.get(
    "",
    response_model=PageOut[RewardOut],
    responses=errors(401, 403, 422),
    summary="List rewards, newest first",
)
def list_rewards(
    actor: Reader,
    db: DatabaseDep,
    request: Request,
    limit: Limit = 50,
    cursor: Cursor = None,
    learner_id: uuid.UUID | None = None,
    program_id: uuid.UUID | None = None,
    state: RewardState | None = None,
    created_from: Annotated[AwareDatetime | None, Query(description="Inclusive")] = None,
    created_to: Annotated[AwareDatetime | None, Query(description="Exclusive")] = None,
) -> PageOut[RewardOut]:
    with read_only(db) as session:
        page = service.list_rewards(
            session,
            actor,
            limit=limit,
            cursor=cursor,
            learner_id=learner_id,
            program_id=program_id,
            state=state,
            created_from=created_from,
            created_to=created_to,
        )
        urls = _link_urls(request, session, actor, [r.id for r in page.items])
        payments = _payments(session, actor, list(page.items))
        return PageOut[RewardOut](
            data=[
                RewardOut.full(r, link_url=urls.get(r.id), payment=payments.get(r.id))
                for r in page.items
            ],
            next_cursor=str(page.next_cursor) if page.next_cursor else None,
        )


@router.get(
    "/{reward_id}",
    response_model=RewardOut,
    responses=errors(401, 403, 404),
    summary="Get a reward, with what was delivered",
)
def get_reward(reward_id: uuid.UUID, actor: Reader, db: DatabaseDep, request: Request) -> RewardOut:
    reveal = Scope.admin in actor.scopes
    with read_only(db) as session:
        reward = service.get(session, actor, reward_id)
        found = delivery.delivery_for(session, actor.organization_id, reward_id)
        # Codes are decrypted only for admin keys, and that read is audited below.
        revealed = (
            delivery.opened_details(found, request.app.state.key_ring)
            if found is not None and reveal
            else {}
        )
        out = (
            DeliveryOut(
                provider=found.provider,
                provider_reference=found.provider_reference,
                details=revealed or delivery.visible_details(found.details, reveal=False),
                delivered_at=found.delivered_at,
            )
            if found
            else None
        )
        urls = _link_urls(request, session, actor, [reward.id])
        payments = _payments(session, actor, [reward])
        answer = RewardOut.full(reward, out, urls.get(reward.id), payments.get(reward.id))
    if delivery.has_secret(revealed) or urls:
        # A revealed gift code or a link URL (it pays out) is a sensitive read: recorded and
        # committed before it is sent.
        with unit_of_work(db) as session:
            if delivery.has_secret(revealed):
                delivery.record_reveal(session, actor, reward_id, revealed)
            if urls:
                audit.sensitive_read(session, actor, "links:url", "reward", reward_id)
    return answer


def _decide(
    reward_id: uuid.UUID, actor: Reader, db: DatabaseDep, decision: Decision, body: ReasonIn
) -> RewardOut:
    with unit_of_work(db) as session:
        reward = approvals.decide(session, actor, reward_id, decision, body.reason)
        return RewardOut.full(reward)


@router.post(
    "/{reward_id}/approve",
    response_model=RewardOut,
    responses=errors(401, 403, 404, 409),
    summary="Approve a reward held for approval or FCPA review",
    description="Decides every pending request on the reward that the caller's roles allow: "
    "`finance` or `org_admin` for `approval_required`, `compliance` for `fcpa_review`. "
    "403 `approver_role_required` without such a role, 403 `self_approval` for the requester.",
)
def approve_reward(
    reward_id: uuid.UUID, actor: Reader, db: DatabaseDep, body: ReasonIn | None = None
) -> RewardOut:
    return _decide(reward_id, actor, db, Decision.approved, body or ReasonIn())


@router.post(
    "/{reward_id}/reject",
    response_model=RewardOut,
    responses=errors(401, 403, 404, 409),
    summary="Reject a reward held for approval or FCPA review (it is cancelled)",
    description="The same roles and four-eyes rule as approving.",
)
def reject_reward(
    reward_id: uuid.UUID, actor: Reader, db: DatabaseDep, body: ReasonIn | None = None
) -> RewardOut:
    return _decide(reward_id, actor, db, Decision.rejected, body or ReasonIn())


@router.post(
    "/{reward_id}/cancel",
    response_model=RewardOut,
    responses=errors(401, 403, 404, 409),
    summary="Cancel a reward that has not started issuing",
)
def cancel_reward(
    reward_id: uuid.UUID, actor: Admin, db: DatabaseDep, body: ReasonIn | None = None
) -> RewardOut:
    with unit_of_work(db) as session:
        reward = service.cancel(session, actor, reward_id, (body or ReasonIn()).reason)
        return RewardOut.full(reward)


@router.post(
    "/{reward_id}/recheck",
    response_model=RewardOut,
    responses=errors(401, 403, 404, 409),
    summary="Run a held reward's gates again",
)
def recheck_reward(reward_id: uuid.UUID, actor: Admin, db: DatabaseDep) -> RewardOut:
    with unit_of_work(db) as session:
        return RewardOut.full(service.retry_gates(session, actor, reward_id))


@router.post(
    "/{reward_id}/retry",
    response_model=RewardOut,
    responses=errors(401, 403, 404, 409),
    summary="Send a failed reward through the gates and to the provider again",
)
def retry_reward(reward_id: uuid.UUID, actor: Admin, db: DatabaseDep) -> RewardOut:
    with unit_of_work(db) as session:
        return RewardOut.full(service.retry_failed(session, actor, reward_id))
