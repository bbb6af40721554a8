"""Budget gate: reserve the reward's amount from its program's budget, atomically."""

from __future__ import annotations

from sqlalchemy.orm import Session

from laurel.budgets import service as budgets
from laurel.kit.money import Money
from laurel.rewards.gates import GateResult, Verdict, register
from laurel.rewards.models import Reward

BUDGET_EXHAUSTED = "budget_exhausted"


class BudgetGate:
    name = "budget"
    order = 900
    commits_money = True

    def check(self, session: Session, reward: Reward) -> GateResult:
        if not reward.livemode:
            return GateResult.ok()  # test mode never touches budgets
        reserved = budgets.reserve(
            session,
            organization_id=reward.organization_id,
            program_id=reward.program_id,
            reward_id=reward.id,
            amount=Money(reward.amount_minor, reward.currency),
        )
        if reserved:
            return GateResult.ok()
        return GateResult(
            Verdict.hold, BUDGET_EXHAUSTED, "the program's budget does not cover this reward"
        )


register(BudgetGate())
