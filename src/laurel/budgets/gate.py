"""Budget gate (order 900, commits money): reserve the reward's amount from every budget that
applies to it, atomically; a reward that does not fit is held with ``budget_exhausted``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from laurel.budgets import service as budgets
from laurel.fx import service as fx
from laurel.kit.errors import AppError
from laurel.kit.money import Money
from laurel.learners import service as learners
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
        departments = _departments(session, live)
        outcome = budgets.reserve_many(
            session,
            [
                budgets.Claim(
                    organization_id=r.organization_id,
                    program_id=r.program_id,
                    reward_id=r.id,
                    amount=Money(r.amount_minor, r.currency),
                    department=departments.get(r.learner_id),
                    on=r.created_at.date(),
                )
                for r in live
            ],
            _Rates(session).convert,
        )
        return [
            GateResult.ok()
            if not r.livemode or r.id in outcome.granted
            else GateResult(
                Verdict.hold,
                BUDGET_EXHAUSTED,
                outcome.short.get(r.id, "the budget does not cover this reward"),
            )
            for r in rewards
        ]


def _departments(session: Session, rewards: Sequence[Reward]) -> dict[uuid.UUID, str | None]:
    by_org: dict[uuid.UUID, set[uuid.UUID]] = {}
    for reward in rewards:
        by_org.setdefault(reward.organization_id, set()).add(reward.learner_id)
    found: dict[uuid.UUID, str | None] = {}
    for organization_id, ids in by_org.items():
        for learner_id, profile in learners.profiles(session, organization_id, ids).items():
            found[learner_id] = profile.department
    return found


class _Rates:
    """Amounts for budgets kept in another currency, at the ECB reference rate of the reward's
    day (no fee: a budget counts what the reward is worth), one rate lookup per currency pair
    and day."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.factors: dict[tuple[str, str, date], Decimal | None] = {}

    def convert(self, amount: Money, currency: str, on: date) -> Money | None:
        if amount.currency == currency:
            return amount
        key = (amount.currency, currency, on)
        if key not in self.factors:
            try:
                self.factors[key] = fx.rate(self.session, amount.currency, currency, on)[0]
            except AppError:  # no rate near that day, or points: this budget cannot take it
                self.factors[key] = None
        factor = self.factors[key]
        if factor is None:
            return None
        return Money.from_decimal(amount.as_decimal() * factor, currency)


register(BudgetGate())
