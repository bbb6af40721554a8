from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from laurel.approvals.models import Approval, Kind, Status
from laurel.approvals.service import DECIDERS, ItemResult, PendingItem
from laurel.kit.schemas import MoneyOut
from laurel.rewards.models import RewardState


class ApprovalOut(BaseModel):
    id: uuid.UUID
    reward_id: uuid.UUID
    kind: Kind
    round: int
    status: Status
    roles: list[str] = Field(description="Roles that may decide this request")
    requester: str | None = Field(description="Who asked for the money; cannot decide it")
    requested_at: datetime
    actor: str | None = Field(description="Who decided")
    reason: str
    decided_at: datetime | None
    expires_at: datetime | None = Field(
        description="Pending: the request expires then undecided and the reward is cancelled "
        "(approval_expired). Approved: the approval lapses then if the reward has not started "
        "issuing"
    )

    @classmethod
    def of(cls, row: Approval) -> ApprovalOut:
        return cls(
            id=row.id,
            reward_id=row.reward_id,
            kind=Kind(row.kind),
            round=row.round,
            status=Status(row.status),
            roles=sorted(DECIDERS[row.kind]),
            requester=row.requester,
            requested_at=row.requested_at,
            actor=row.actor,
            reason=row.reason,
            decided_at=row.decided_at,
            expires_at=row.expires_at,
        )


class PendingOut(ApprovalOut):
    amount: MoneyOut
    program_id: uuid.UUID
    learner_id: uuid.UUID
    hold_messages: list[str]

    @classmethod
    def of_item(cls, item: PendingItem) -> PendingOut:
        reward = item.reward
        return cls(
            **ApprovalOut.of(item.request).model_dump(),
            amount=MoneyOut.of(reward.amount_minor, reward.currency),
            program_id=reward.program_id,
            learner_id=reward.learner_id,
            hold_messages=[h.get("message") or "" for h in reward.hold_reasons],
        )


class BatchDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reward_ids: list[uuid.UUID] = Field(min_length=1, max_length=500)
    reason: str = Field(default="", max_length=1000)


class BatchItemOut(BaseModel):
    reward_id: uuid.UUID
    ok: bool
    state: RewardState | None = Field(default=None, description="The reward's state after it")
    error: str | None = Field(default=None, description="Stable code when it failed")
    detail: Any = None

    @classmethod
    def of(cls, item: ItemResult) -> BatchItemOut:
        return cls(
            reward_id=item.reward_id,
            ok=item.ok,
            state=RewardState(item.state) if item.state else None,
            error=item.error,
            detail=item.detail,
        )


class BatchDecisionOut(BaseModel):
    decided: int
    failed: int
    results: list[BatchItemOut]
