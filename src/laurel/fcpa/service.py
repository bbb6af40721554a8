"""Which rewards the FCPA rules send to compliance.

A reward to a channel partner outside the United States (classification ``channel_partner``,
country not ``US``; a partner without a country is treated as non-US, the safe side) needs
compliance approval when, in the currency of the organization's limits
(:mod:`laurel.fcpa.settings`; by default 250.00 USD per reward and 1000.00 USD a year):

- its amount is above the per-reward limit, or
- the partner's rewards in the calendar year of this one, up to and including it, add up to
  more than the yearly limit.

"Up to" means created before it (by creation time, then id): the answer for a reward never
depends on the order a batch was judged in, and is the same when the reward is judged again
later. Cancelled and failed rewards do not count. Each amount counts at the rate of the day it
was created (ECB reference rates through :mod:`laurel.fx`); a reward whose value in the limits'
currency is unknown (no rate imported for that day) goes to compliance too. Points rewards are
left out: they have no cash value until redeemed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from laurel.fcpa import settings
from laurel.fx import service as fx
from laurel.kit.currency import POINTS
from laurel.kit.errors import AppError
from laurel.kit.money import Money
from laurel.learners import service as learners
from laurel.learners.models import Classification
from laurel.rewards import service as rewards
from laurel.rewards.models import Reward

HOME_COUNTRY = "US"
USD = "USD"


Policy = settings.Policy


class Rates:
    """Values in one currency (USD unless given) at the rate of a day, one rate lookup per
    currency and day."""

    def __init__(self, session: Session, target: str = USD) -> None:
        self.session = session
        self.target = target
        self._rates: dict[tuple[str, date], Decimal | None] = {}

    def convert(self, amount: Money, on: date) -> Money | None:
        """``amount`` in the target currency (None: no rate known for that day)."""
        if amount.currency == self.target:
            return amount
        key = (amount.currency, on)
        if key not in self._rates:
            self._rates[key] = _rate(self.session, amount.currency, on, self.target)
        rate = self._rates[key]
        if rate is None:
            return None
        return Money.from_decimal(amount.as_decimal() * rate, self.target)


def _rate(session: Session, currency: str, on: date, target: str = USD) -> Decimal | None:
    """Units of ``target`` for one ``currency`` on ``on`` (None: no rate known)."""
    try:
        factor, _, _ = fx.rate(session, currency, target, on)
    except AppError:  # no rate published near that day, or not a currency
        return None
    return factor


def _is_partner_abroad(profile: learners.Profile | None) -> bool:
    if profile is None or profile.classification != Classification.channel_partner:
        return False
    return (profile.country or "").upper() != HOME_COUNTRY


def _year(moment: datetime) -> tuple[datetime, datetime]:
    year = moment.astimezone(UTC).year
    return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)


def reviews(
    session: Session, batch: Sequence[Reward], policy: Policy | None = None
) -> list[str | None]:
    """For each reward, why compliance must approve it, or None: against ``policy`` when
    given, else each organization's own limits. Set-based: one read of the learners and one
    of the partners' rewards in the years concerned, per organization."""
    answers: list[str | None] = [None] * len(batch)
    by_org: dict[tuple[uuid.UUID, bool], list[int]] = {}
    for index, reward in enumerate(batch):
        by_org.setdefault((reward.organization_id, reward.livemode), []).append(index)
    converters: dict[str, Rates] = {}
    for (organization_id, livemode), indexes in by_org.items():
        limits = policy or settings.policy(session, organization_id)
        rates = converters.setdefault(limits.currency, Rates(session, limits.currency))
        people = learners.profiles(session, organization_id, {batch[i].learner_id for i in indexes})
        # Points have no cash value until redeemed; the points ledger answers for them.
        partners = [
            i
            for i in indexes
            if batch[i].currency != POINTS and _is_partner_abroad(people.get(batch[i].learner_id))
        ]
        if not partners:
            continue
        spans = [_year(batch[i].created_at) for i in partners]
        history = rewards.earned_by(
            session,
            organization_id,
            livemode,
            {batch[i].learner_id for i in partners},
            min(s for s, _ in spans),
            max(e for _, e in spans),
        )
        for index in partners:
            answers[index] = _judge(batch[index], history, limits, rates)
    return answers


def _judge(
    reward: Reward, history: list[rewards.Earned], policy: Policy, rates: Rates
) -> str | None:
    own = rates.convert(Money(reward.amount_minor, reward.currency), reward.created_at.date())
    if own is None:
        return (
            f"reward to a non-US channel partner in {reward.currency} with no "
            f"{rates.target} rate for {reward.created_at.date().isoformat()}: compliance must "
            "review it"
        )
    if own.minor > policy.event_limit.minor:
        return (
            f"reward of {own} to a non-US channel partner is above the FCPA limit of "
            f"{policy.event_limit} per reward"
        )
    start, end = _year(reward.created_at)
    mine = (reward.created_at, reward.id)
    total = own.minor
    for earned in history:
        if (
            earned.currency == POINTS
            or earned.learner_id != reward.learner_id
            or not start <= earned.created_at < end
            or (earned.created_at, earned.id) >= mine
        ):
            continue
        value = rates.convert(Money(earned.amount_minor, earned.currency), earned.created_at.date())
        if value is None:
            return (
                f"an earlier reward to this partner in {earned.currency} has no "
                f"{rates.target} rate: compliance must review the yearly total"
            )
        total += value.minor
    if total > policy.yearly_limit.minor:
        return (
            f"rewards to this non-US channel partner in {start.year} reach "
            f"{Money(total, rates.target)}, above the FCPA yearly limit of "
            f"{policy.yearly_limit}"
        )
    return None
