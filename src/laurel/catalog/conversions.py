"""The conversion a reward was paid at: written once when it is paid, read for tax totals."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from laurel.catalog.models import RewardConversion
from laurel.catalog.pricing import Quote


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
