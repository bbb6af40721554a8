"""FCPA gate (order 300): rewards to non-US channel partners above the per-reward or yearly
USD limits wait for a ``compliance`` approver other than the requester; a compliance
rejection cancels the reward."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from laurel.approvals import service as approvals
from laurel.approvals.models import Kind
from laurel.fcpa import service
from laurel.rewards.gates import GateResult, register
from laurel.rewards.models import Reward

FCPA_REVIEW = approvals.HOLD_REASONS[Kind.fcpa]


class FcpaGate:
    name = "fcpa"
    order = 300
    commits_money = False

    def check(self, session: Session, reward: Reward) -> GateResult:
        return self.check_many(session, [reward])[0]

    def check_many(self, session: Session, rewards: Sequence[Reward]) -> list[GateResult]:
        why = service.reviews(session, rewards)
        flagged = [(r, w) for r, w in zip(rewards, why, strict=True) if w is not None]
        judged = dict(
            zip(
                [r.id for r, _ in flagged],
                approvals.judge_many(session, flagged, Kind.fcpa),
                strict=True,
            )
        )
        return [judged.get(r.id, GateResult.ok()) for r in rewards]


register(FcpaGate())
