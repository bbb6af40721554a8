"""USD amounts for tax, through ``laurel.fx`` (ECB reference rates) at the rate of the
payment date, without the organization's FX fee (the fee is a cost of conversion, not income).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from laurel.fx import service as fx
from laurel.kit.errors import Conflict
from laurel.kit.money import Money


class RateUnavailable(Conflict):
    code = "fx_rate_unavailable"


@dataclass(frozen=True, slots=True)
class Usd:
    minor: int
    """USD cents."""
    rate: str
    """USD per unit of the paid currency, as a decimal string."""
    rate_date: date | None


def to_usd(session: Session, organization_id: uuid.UUID, amount: Money, on: date) -> Usd:
    """``amount`` in USD cents at the rate of ``on``; RateUnavailable when there is none."""
    if amount.currency == "USD":
        return Usd(amount.minor, "1", on)
    try:
        conversion = fx.convert(session, organization_id, amount, "USD", on, with_fee=False)
    except fx.NoRate as exc:
        detail = exc.detail.get("message") if isinstance(exc.detail, dict) else exc.detail
        raise RateUnavailable(str(detail)) from exc
    return Usd(conversion.converted.minor, str(conversion.rate), conversion.rate_date)
