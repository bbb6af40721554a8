"""The inventory gate (order 800): a reward paid from pre-bought codes waits for stock.

It judges live rewards whose only provider (the program's, or its route for the reward's kind)
is ``inventory``. A reward passes when a code of its value is in stock beyond those already
promised to rewards waiting for issuance; otherwise it is held ``out_of_stock`` (not failed)
and an upload of codes runs its pipeline again. A route with a provider after ``inventory``
does not hold: the worker fails over instead.

Idempotent: a reward that already holds a code passes; nothing is written. On PostgreSQL one
transaction at a time judges a value (an advisory lock to commit), so two intakes never promise
the same last code.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from laurel.delivery import routing
from laurel.delivery.inventory import service
from laurel.kit.money import Money
from laurel.rewards import gates
from laurel.rewards import service as rewards
from laurel.rewards.gates import GateResult, Verdict, register
from laurel.rewards.models import Reward

ONLY = (service.PROVIDER,)


class InventoryGate:
    name = "inventory"
    order = 800
    commits_money = False

    def check(self, session: Session, reward: Reward) -> GateResult:
        return self.check_many(session, [reward])[0]

    def check_many(self, session: Session, rewards_: Sequence[Reward]) -> list[GateResult]:
        results = [GateResult.ok() for _ in rewards_]
        live = [(i, r) for i, r in enumerate(rewards_) if r.livemode]
        if not live:
            return results
        by_org: dict[uuid.UUID, list[tuple[int, Reward]]] = {}
        for i, r in live:
            by_org.setdefault(r.organization_id, []).append((i, r))
        for organization_id, items in by_org.items():
            routes = routing.routes_for(session, organization_id, {r.program_id for _, r in items})
            mine = [
                (i, r)
                for i, r in items
                if routing.resolve(routes, r.program_id, r.reward_kind, r.provider, livemode=True)
                == ONLY
            ]
            if mine:
                self._judge(session, organization_id, mine, results)
        return results

    def _judge(
        self,
        session: Session,
        organization_id: uuid.UUID,
        items: list[tuple[int, Reward]],
        results: list[GateResult],
    ) -> None:
        fresh = gates.new_rewards(session)
        holding = service.allocated_keys(
            session, [str(r.id) for _, r in items if r.id not in fresh]
        )
        values = sorted({Money(r.amount_minor, r.currency) for _, r in items}, key=str)
        left: dict[Money, int] = {}
        for value in values:
            service.lock_denomination(session, organization_id, value)
            left[value] = service.available_count(session, organization_id, value)
        for currency in sorted({v.currency for v in values}):
            amounts = [v.minor for v in values if v.currency == currency]
            waiting = rewards.awaiting_issue(session, organization_id, currency, amounts)
            routes = routing.routes_for(session, organization_id, {w.program_id for w in waiting})
            promised = [
                w
                for w in waiting
                if routing.resolve(routes, w.program_id, w.reward_kind, w.provider, livemode=True)
                == ONLY
            ]
            served = service.allocated_keys(session, [str(w.id) for w in promised])
            for w in promised:
                if str(w.id) not in served:
                    left[Money(w.amount_minor, currency)] -= 1
        for i, reward in items:
            value = Money(reward.amount_minor, reward.currency)
            if str(reward.id) in holding:
                continue
            if left[value] > 0:
                left[value] -= 1
                continue
            results[i] = GateResult(
                Verdict.hold,
                service.OUT_OF_STOCK,
                f"no {value} code left in the inventory; upload codes to release this reward",
            )


register(InventoryGate())
