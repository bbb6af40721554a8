"""The conversion a reward was paid at: written once when it is paid, read for tax totals."""

from __future__ import annotations

import logging
import uuid
from datetime import date

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from laurel.catalog import pricing
from laurel.catalog.models import RewardConversion
from laurel.catalog.pricing import Quote
from laurel.kit import currency
from laurel.kit.clock import utcnow
from laurel.kit.ids import uuid7
from laurel.kit.money import Money
from laurel.kit.sql import insert_ignore
from laurel.rewards.models import Reward

log = logging.getLogger("laurel.catalog")


def record(
    session: Session, organization_id: uuid.UUID, reward_id: uuid.UUID, quote: Quote, on: date
) -> RewardConversion:
    """Store ``quote`` as the reward's conversion, replacing an attempt that did not pay.

    Callers hold the reward's redemption claim, so no one else writes this row meanwhile.
    """
    session.execute(
        delete(RewardConversion).where(
            RewardConversion.organization_id == organization_id,
            RewardConversion.reward_id == reward_id,
        )
    )
    row = RewardConversion(
        organization_id=organization_id,
        reward_id=reward_id,
        from_minor=quote.source_amount.minor,
        from_currency=quote.source_amount.currency,
        to_minor=quote.amount.minor,
        to_currency=quote.amount.currency,
        fee_minor=quote.fee.minor,
        rate=format(quote.rate, "f"),
        rate_date=quote.rate_date,
        source=quote.source,
        usd_minor=quote.usd.minor,
        converted_on=on,
    )
    session.add(row)
    session.flush()
    return row


def fix(session: Session, reward: Reward, quote: Quote, wanted: str, on: date) -> RewardConversion:
    """Fix the conversion an instant reward is paid at, before its provider is called.

    Written once (unique per reward): a retry, a failover or a crash recovery sends the
    provider the same amount in the same currency, so the provider's idempotency holds.
    Answers the row that stands (an earlier attempt's, if any).
    """
    insert_ignore(
        session,
        RewardConversion.__table__,  # type: ignore[arg-type]
        {
            "id": uuid7(),
            "organization_id": reward.organization_id,
            "reward_id": reward.id,
            "from_minor": quote.source_amount.minor,
            "from_currency": quote.source_amount.currency,
            "to_minor": quote.amount.minor,
            "to_currency": quote.amount.currency,
            "fee_minor": quote.fee.minor,
            "rate": format(quote.rate, "f"),
            "rate_date": quote.rate_date,
            "source": quote.source,
            "usd_minor": quote.usd.minor,
            "converted_on": on,
            "wanted_currency": wanted,
            "fallback_reason": None,
            "created_at": utcnow(),
        },
        ["reward_id"],
    )
    found = for_reward(session, reward.organization_id, reward.id)
    assert found is not None
    return found


def for_rewards(
    session: Session, organization_id: uuid.UUID, reward_ids: set[uuid.UUID]
) -> dict[uuid.UUID, RewardConversion]:
    if not reward_ids:
        return {}
    rows = session.scalars(
        select(RewardConversion).where(
            RewardConversion.organization_id == organization_id,
            RewardConversion.reward_id.in_(reward_ids),
        )
    )
    return {row.reward_id: row for row in rows}


def record_delivered(
    session: Session,
    reward: Reward,
    on: date,
    *,
    wanted_currency: str | None = None,
    fallback_reason: str | None = None,
) -> bool:
    """A reward issued as it is, in its program's currency: keep its USD equivalent (and, when
    the learner's currency differs, why it was not converted). True when this call wrote the
    row.

    Idempotent (a second delivery report changes nothing, and a conversion fixed before the
    provider was called stands). Points have no USD value; a currency with no rate that day is
    logged and left without a row (tax reports show it).
    """
    amount = Money(reward.amount_minor, reward.currency)
    if amount.currency == currency.POINTS:
        return False
    try:
        quote = pricing.quote(session, reward.organization_id, amount, amount.currency, on)
    except pricing.ConversionUnavailable as exc:
        log.warning("reward %s delivered without a USD equivalent: %s", reward.id, exc.detail)
        return False
    return insert_ignore(
        session,
        RewardConversion.__table__,  # type: ignore[arg-type]
        {
            "id": uuid7(),
            "organization_id": reward.organization_id,
            "reward_id": reward.id,
            "from_minor": amount.minor,
            "from_currency": amount.currency,
            "to_minor": quote.amount.minor,
            "to_currency": quote.amount.currency,
            "fee_minor": quote.fee.minor,
            "rate": format(quote.rate, "f"),
            "rate_date": quote.rate_date,
            "source": quote.source,
            "usd_minor": quote.usd.minor,
            "converted_on": on,
            "wanted_currency": wanted_currency,
            "fallback_reason": fallback_reason[:300] if fallback_reason else None,
            "created_at": utcnow(),
        },
        ["reward_id"],
    )


def discard(session: Session, organization_id: uuid.UUID, reward_id: uuid.UUID) -> None:
    """Forget a conversion whose payment was refused: the next attempt fixes its own."""
    session.execute(
        delete(RewardConversion).where(
            RewardConversion.organization_id == organization_id,
            RewardConversion.reward_id == reward_id,
        )
    )


def for_reward(
    session: Session, organization_id: uuid.UUID, reward_id: uuid.UUID
) -> RewardConversion | None:
    return session.scalar(
        select(RewardConversion).where(
            RewardConversion.organization_id == organization_id,
            RewardConversion.reward_id == reward_id,
        )
    )
