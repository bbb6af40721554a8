"""What a reward is worth in the currency it is paid in, through ``laurel.fx``.

A program is funded in one currency; the learner is paid in the currency of the item they
choose (items valid in their country are priced in its currency). The conversion uses the
day's reference rate and the organization's fee, both from ``laurel.fx``, and is fixed when the
reward is redeemed (see :mod:`laurel.catalog.conversions`); pages only show quotes.
"""

from __future__ import annotations

import importlib
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

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
    """The reward's USD equivalent at the day's rate (for tax aggregation)."""


def _fx() -> Any:
    """The FX service, once the lead's ``laurel.fx`` is installed; None before."""
    try:
        return importlib.import_module("laurel.fx.service")
    except ModuleNotFoundError:
        return None


def _money(value: Any, currency: str) -> Money:
    if isinstance(value, Money):
        return value
    return Money(int(value), currency)


def quote(
    session: Session, organization_id: uuid.UUID, amount: Money, to_currency: str, on: date
) -> Quote:
    """Convert ``amount`` into ``to_currency`` at the rate of ``on``.

    Raises :class:`ConversionUnavailable` when there is no rate for that pair and day.
    """
    fx = _fx()
    if amount.currency == to_currency:
        received, fee = amount, Money(0, to_currency)
        rate, source = Decimal(1), SAME_CURRENCY
        rate_date: date | None = on
    else:
        if fx is None:
            raise ConversionUnavailable(
                f"no exchange rates are available to convert {amount.currency} to {to_currency}"
            )
        try:
            conversion = fx.convert(session, organization_id, amount, to_currency, on)
        except LookupError as exc:
            raise ConversionUnavailable(str(exc)) from exc
        received = _money(conversion.amount, to_currency)
        fee = _money(getattr(conversion, "fee", 0), to_currency)
        rate = Decimal(str(conversion.rate))
        rate_date = getattr(conversion, "rate_date", None)
        source = str(getattr(conversion, "source", "fx"))
    return Quote(
        source_amount=amount,
        amount=received,
        fee=fee,
        rate=rate,
        rate_date=rate_date,
        source=source,
        usd=usd_equivalent(session, organization_id, amount, on),
    )


def usd_equivalent(session: Session, organization_id: uuid.UUID, amount: Money, on: date) -> Money:
    if amount.currency == "USD":
        return amount
    fx = _fx()
    if fx is None:
        raise ConversionUnavailable(f"no exchange rates are available to value {amount} in USD")
    try:
        value = fx.to_usd(session, organization_id, amount, on)
    except LookupError as exc:
        raise ConversionUnavailable(str(exc)) from exc
    return _money(getattr(value, "amount", value), "USD")
