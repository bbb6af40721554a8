"""What a reward is worth in the currency it is paid in, through ``laurel.fx``.

A program is funded in one currency; the learner is paid in the currency of the item they
choose (items valid in their country are priced in its currency). The conversion uses the
day's reference rate less the organization's FX fee, both from ``laurel.fx``, and is fixed when
the reward is redeemed (:mod:`laurel.catalog.conversions`); pages only show quotes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from laurel.fx import service as fx
from laurel.kit.errors import Conflict
from laurel.kit.money import Money

SAME_CURRENCY = "same_currency"


class ConversionUnavailable(Conflict):
    code = "conversion_unavailable"


@dataclass(frozen=True, slots=True)
class Quote:
    """``amount`` is what the learner receives (after ``fee``), both in the target currency."""

    source_amount: Money
    amount: Money
    fee: Money
    rate: Decimal
    rate_date: date | None
    source: str
    usd: Money
    """The reward's USD equivalent at the day's rate, no fee (for tax aggregation)."""


def quote(
    session: Session, organization_id: uuid.UUID, amount: Money, to_currency: str, on: date
) -> Quote:
    """Convert ``amount`` into ``to_currency`` at the rate of ``on``.

    Raises :class:`ConversionUnavailable` when there is no rate for that pair and day.
    """
    try:
        conversion = fx.convert(session, organization_id, amount, to_currency, on)
        usd = fx.to_usd(session, organization_id, amount, on)
    except fx.NoRate as exc:
        raise ConversionUnavailable(exc.detail) from exc
    same = amount.currency == to_currency
    return Quote(
        source_amount=amount,
        amount=conversion.converted,
        fee=conversion.fee,
        rate=conversion.rate,
        rate_date=on if same else conversion.rate_date,
        source=SAME_CURRENCY if same else (conversion.source or "fx"),
        usd=usd,
    )
