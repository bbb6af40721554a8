"""Approve or reject a held reward. One decision per reward, enforced by a unique index."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from laurel.approvals.gate import APPROVAL_REQUIRED
from laurel.approvals.models import Approval, Decision
from laurel.audit import service as audit
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import Conflict
from laurel.kit.ids import uuid7
from laurel.kit.sql import insert_ignore
from laurel.rewards import service as rewards
from laurel.rewards.models import Reward, RewardState


class NotAwaitingApproval(Conflict):
    code = "not_awaiting_approval"


def decide(
    session: Session, actor: Actor, reward_id: uuid.UUID, decision: Decision, reason: str
) -> Reward:
    reward = rewards.get(session, actor, reward_id, lock=True)
    waiting = reward.state == RewardState.held and any(
        h.get("reason") == APPROVAL_REQUIRED for h in reward.hold_reasons
    )
    if not waiting:
        raise NotAwaitingApproval(f"reward {reward_id} is {reward.state} and not awaiting approval")
    inserted = insert_ignore(
        session,
        Approval.__table__,  # type: ignore[arg-type]
        {
            "id": uuid7(),
            "organization_id": actor.organization_id,
            "reward_id": reward.id,
            "decision": decision,
            "actor": actor.name,
            "reason": reason,
            "decided_at": utcnow(),
            "created_at": utcnow(),
        },
        ["reward_id"],
    )
    if not inserted:
        existing = session.scalar(select(Approval.decision).where(Approval.reward_id == reward.id))
        raise NotAwaitingApproval(f"reward {reward_id} was already {existing}")
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action=f"approvals:reward:{decision}",
        target_type="reward",
        target_id=reward.id,
        details={"reason": reason},
    )
    rewards.run_gates(session, reward, actor=actor.name)
    return reward
