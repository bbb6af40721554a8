"""Approval gate: rewards above the program's threshold wait for a person's decision."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from laurel.approvals.models import Approval, Decision
from laurel.kit.money import Money
from laurel.programs import service as programs
from laurel.rewards.gates import GateResult, Verdict, register
from laurel.rewards.models import Reward

APPROVAL_REQUIRED = "approval_required"


class ApprovalGate:
    name = "approval"
    order = 400
    commits_money = False

    def check(self, session: Session, reward: Reward) -> GateResult:
        threshold = programs.approval_threshold(
            session, reward.organization_id, reward.program_version_id
        )
        if threshold is None or reward.amount_minor <= threshold:
            return GateResult.ok()
        approval = session.execute(
            select(Approval.decision, Approval.reason).where(Approval.reward_id == reward.id)
        ).first()
        if approval is not None and approval.decision == Decision.approved:
            return GateResult.ok()
        if approval is not None and approval.decision == Decision.rejected:
            why = "rejected by an approver"
            if approval.reason:
                why = f"{why}: {approval.reason}"
            return GateResult(Verdict.reject, "approval_rejected", why)
        limit = Money(threshold, reward.currency)
        return GateResult(
            Verdict.hold,
            APPROVAL_REQUIRED,
            f"amount is above the program's approval threshold of {limit}",
        )


register(ApprovalGate())
