from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from laurel.catalog.models import RewardConversion
from laurel.kit.money import Money
from laurel.kit.schemas import MoneyOut
from laurel.rewards.models import Reward, RewardState


class HoldReason(BaseModel):
    gate: str
    reason: str | None
    message: str | None


class RewardSummary(BaseModel):
    id: uuid.UUID
    program_id: uuid.UUID
    amount: MoneyOut
    state: RewardState
    hold_reasons: list[HoldReason]

    @classmethod
    def of(cls, reward: Reward) -> RewardSummary:
        return cls(
            id=reward.id,
            program_id=reward.program_id,
            amount=MoneyOut.of(reward.amount_minor, reward.currency),
            state=RewardState(reward.state),
            hold_reasons=[HoldReason(**h) for h in reward.hold_reasons],
        )


def reward_summary(reward: Reward) -> dict[str, Any]:
    """``RewardSummary`` as plain values, for answers that carry many (see ``event_json``)."""
    return {
        "id": reward.id,
        "program_id": reward.program_id,
        "amount": {
            "amount": Money(reward.amount_minor, reward.currency).format_amount(),
            "currency": reward.currency,
        },
        "state": reward.state,
        "hold_reasons": [
            {"gate": h.get("gate"), "reason": h.get("reason"), "message": h.get("message")}
            for h in reward.hold_reasons
        ],
    }


class DeliveryOut(BaseModel):
    provider: str
    provider_reference: str
    details: dict[str, Any]
    delivered_at: datetime


class PaymentOut(BaseModel):
    """What the learner was paid, in which currency, at which rate: fixed when it was paid."""

    paid: MoneyOut = Field(description="What the provider was asked for, after the FX fee")
    fee: MoneyOut = Field(description="The FX fee kept, in the paid currency (0 if none)")
    rate: str = Field(description="Paid-currency units per program-currency unit, fee excluded")
    rate_date: date | None = Field(description="The publication day of the rate used")
    rate_source: str = Field(description="``ecb``, a provider's name, or ``same_currency``")
    usd: MoneyOut = Field(description="The reward's USD equivalent (no fee), for tax totals")
    learner_currency: str | None = Field(
        description="The learner's currency (from their country) when not the program's"
    )
    fallback_reason: str | None = Field(
        description="Why the reward was paid in the program's currency, not the learner's"
    )

    @classmethod
    def of(cls, row: RewardConversion) -> PaymentOut:
        return cls(
            paid=MoneyOut.of(row.to_minor, row.to_currency),
            fee=MoneyOut.of(row.fee_minor, row.to_currency),
            rate=row.rate,
            rate_date=row.rate_date,
            rate_source=row.source,
            usd=MoneyOut.of(row.usd_minor, "USD"),
            learner_currency=row.wanted_currency,
            fallback_reason=row.fallback_reason,
        )


class RewardOut(RewardSummary):
    livemode: bool
    program_version_id: uuid.UUID
    rule_id: uuid.UUID
    rule_version_id: uuid.UUID
    learner_id: uuid.UUID
    course_id: uuid.UUID | None
    """None for a points redemption."""
    event_id: uuid.UUID | None
    """None for a points redemption."""
    reward_kind: str
    provider: str
    provider_reference: str | None
    dedupe_key: str
    calculation: dict[str, Any]
    attempts: int
    last_error: str | None
    created_at: datetime
    ready_at: datetime | None
    issuing_at: datetime | None
    delivered_at: datetime | None
    failed_at: datetime | None
    cancelled_at: datetime | None
    delivery: DeliveryOut | None = Field(default=None, description="Only on GET /rewards/{id}")
    link_url: str | None = Field(
        default=None,
        description="For link rewards: the learner's reward page, to send or embed (LMS email, "
        "certificate). Shown to admin keys only: whoever holds it can redeem the reward",
    )

    payment: PaymentOut | None = Field(
        default=None,
        description="Once paid: the amount in the currency paid, the FX fee, rate and USD "
        "value (docs/fx.md); for a link reward, once redeemed",
    )

    @classmethod
    def full(
        cls,
        reward: Reward,
        delivery: DeliveryOut | None = None,
        link_url: str | None = None,
        payment: RewardConversion | None = None,
    ) -> RewardOut:
        summary = RewardSummary.of(reward)
        return cls(
            **summary.model_dump(),
            livemode=reward.livemode,
            program_version_id=reward.program_version_id,
            rule_id=reward.rule_id,
            rule_version_id=reward.rule_version_id,
            learner_id=reward.learner_id,
            course_id=reward.course_id,
            event_id=reward.event_id,
            reward_kind=reward.reward_kind,
            provider=reward.provider,
            provider_reference=reward.provider_reference,
            dedupe_key=reward.dedupe_key,
            calculation=reward.calculation,
            attempts=reward.attempts,
            last_error=reward.last_error,
            created_at=reward.created_at,
            ready_at=reward.ready_at,
            issuing_at=reward.issuing_at,
            delivered_at=reward.delivered_at,
            failed_at=reward.failed_at,
            cancelled_at=reward.cancelled_at,
            delivery=delivery,
            link_url=link_url,
            payment=PaymentOut.of(payment) if payment is not None else None,
        )


class ReasonIn(BaseModel):
    reason: str = Field(default="", max_length=1000)
