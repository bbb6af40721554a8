"""Approval gate (order 400): rewards above the program's threshold wait for a decision by
``finance`` or an ``org_admin`` other than the requester (see :mod:`laurel.approvals.service`)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from laurel.approvals import service
from laurel.approvals.models import Kind
from laurel.kit.money import Money
from laurel.programs import service as programs
from laurel.rewards.gates import GateResult, register
from laurel.rewards.models import Reward

APPROVAL_REQUIRED = service.HOLD_REASONS[Kind.approval]


class ApprovalGate:
    name = "approval"
    order = 400
    commits_money = False

    def check(self, session: Session, reward: Reward) -> GateResult:
        return self.check_many(session, [reward])[0]

    def check_many(self, session: Session, rewards: Sequence[Reward]) -> list[GateResult]:
        thresholds = {
            r.id: programs.approval_threshold(session, r.organization_id, r.program_version_id)
            for r in rewards
        }
        above = [
            (r, f"amount is above the program's approval threshold of {Money(limit, r.currency)}")
            for r in rewards
            if (limit := thresholds[r.id]) is not None and r.amount_minor > limit
        ]
        judged = dict(
            zip(
                [r.id for r, _ in above],
                service.judge_many(session, above, Kind.approval),
                strict=True,
            )
        )
        return [judged.get(r.id, GateResult.ok()) for r in rewards]


register(ApprovalGate())
