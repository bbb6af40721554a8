"""Budget gate: reserve the reward's amount from its program's budget, atomically."""

from __future__ import annotations

from collections.abc import Sequence

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
        return self.check_many(session, [reward])[0]

    def check_many(self, session: Session, rewards: Sequence[Reward]) -> list[GateResult]:
        live = [r for r in rewards if r.livemode]  # test mode never touches budgets
        reserved = budgets.reserve_many(
            session,
            [
                budgets.Claim(
                    organization_id=r.organization_id,
                    program_id=r.program_id,
                    reward_id=r.id,
                    amount=Money(r.amount_minor, r.currency),
                )
                for r in live
            ],
        )
        return [
            GateResult.ok()
            if not r.livemode or r.id in reserved
            else GateResult(
                Verdict.hold, BUDGET_EXHAUSTED, "the program's budget does not cover this reward"
            )
            for r in rewards
        ]


register(BudgetGate())
