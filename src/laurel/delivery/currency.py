"""Paying an instant reward in the learner's currency.

A program is funded (and budgeted) in one currency. When a learner's country uses another one
(:mod:`laurel.fx.territory`), the worker converts the reward at the day's reference rate less
the organization's FX fee (:mod:`laurel.catalog.pricing`) as it claims it, and asks the
provider for the converted amount. The conversion is fixed before the provider is called
(:func:`laurel.catalog.conversions.fix`): every retry, failover and crash recovery sends the
same amount in the same currency, so the provider's idempotency key keeps its meaning.

- Every provider of the reward's route must be able to pay that currency
  (``pays_in``: Tango and Tremendous from their item / product settings, the sandbox from
  ``LAUREL_SANDBOX_CURRENCIES``; inventory codes and points never). Otherwise the reward is
  paid in the program's currency and the reason is recorded with its USD value.
- No usable rate (none imported, or older than ``fx.service.MAX_AGE_DAYS``): the reward is held
  with reason ``fx_rate_unavailable`` rather than paid at a guessed rate. Importing rates
  releases it (``fx.service.store`` calls :func:`release_waiting`).

Link rewards are converted when the learner picks an item (``laurel.links``); points are
Laurel's own currency.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session

from laurel.catalog import conversions, pricing
from laurel.catalog.models import RewardConversion
from laurel.delivery.providers import OWN_CHANNELS, ProviderRegistry, pays_in
from laurel.fx import territory
from laurel.kit import currency as currencies
from laurel.kit.money import Money
from laurel.learners.models import Learner
from laurel.rewards.models import Reward

HOLD_REASON = "fx_rate_unavailable"
HOLD_GATE = "fx"


@dataclass(frozen=True, slots=True)
class Payment:
    """What the provider is asked to pay for one reward."""

    amount: Money
    wanted: str | None = None
    """The learner's currency, when it differs from the program's."""
    fallback_reason: str | None = None
    """Why ``amount`` is in the program's currency although ``wanted`` differs."""


@dataclass(frozen=True, slots=True)
class Held:
    message: str


@dataclass(frozen=True, slots=True)
class Policy:
    """The worker's view of who pays what (its provider registry and the country overrides)."""

    providers: ProviderRegistry
    country_currencies: Mapping[str, str] = field(default_factory=dict)

    def refusal(self, route: tuple[str, ...], reward_kind: str, wanted: str) -> str | None:
        """Why the route cannot pay ``wanted`` (None when every provider on it can)."""
        for name in route:
            provider = self.providers.find(name)
            if provider is None or not pays_in(provider, reward_kind, wanted):
                return (
                    f"provider {name} is not set up to pay {reward_kind} rewards in {wanted}; "
                    f"paid in the program's currency"
                )
        return None


def plan(
    session: Session,
    reward: Reward,
    person: Learner | None,
    route: tuple[str, ...],
    *,
    policy: Policy | None,
    fixed: RewardConversion | None,
    on: date,
    fresh: bool = True,
) -> Payment | Held:
    """The payment for one claimed reward. ``fresh`` is False when a crashed claim is being
    settled: then only a conversion fixed before the crash counts (the provider may already
    hold an order at that amount), nothing new is decided."""
    program = Money(reward.amount_minor, reward.currency)
    if reward.provider in OWN_CHANNELS or program.currency == currencies.POINTS:
        return Payment(program)
    if fixed is not None and fixed.to_currency != fixed.from_currency:
        return Payment(Money(fixed.to_minor, fixed.to_currency), wanted=fixed.to_currency)
    if policy is None or not fresh:
        return Payment(program)
    wanted = territory.currency_for(
        person.country if person else None, on, policy.country_currencies
    )
    if wanted is None or wanted == program.currency:
        return Payment(program)
    refused = policy.refusal(route, reward.reward_kind, wanted)
    if refused is not None:
        return Payment(program, wanted=wanted, fallback_reason=refused)
    try:
        quote = pricing.quote(session, reward.organization_id, program, wanted, on)
    except pricing.ConversionUnavailable as exc:
        detail = exc.detail if isinstance(exc.detail, dict) else {}
        why = detail.get("message") or f"no exchange rate for {wanted}"
        return Held(
            f"cannot pay in {wanted}, the learner's currency: {why}. "
            "The reward waits and is released when rates are imported"
        )
    if quote.amount.minor <= 0:
        return Payment(
            program, wanted=wanted, fallback_reason=f"{program} converts to nothing in {wanted}"
        )
    row = conversions.fix(session, reward, quote, wanted, on)
    return Payment(Money(row.to_minor, row.to_currency), wanted=wanted)


def release_waiting(session: Session, organization_ids: list[uuid.UUID], actor: str) -> int:
    """New rates arrived: rewards held for want of one go back through the gates (and to the
    worker, which converts them at the new rate). Answers how many became ready."""
    from laurel.rewards import service as rewards  # noqa: PLC0415 - rewards imports fx users

    return sum(
        rewards.release_held(session, organization_id, None, HOLD_REASON, actor)
        for organization_id in organization_ids
    )
