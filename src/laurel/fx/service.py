"""Storing reference rates and converting money with them.

A conversion uses the newest rate published on or before the day asked for (the ECB publishes
on working days only, so a Saturday reward uses Friday's rate), and refuses rates older than
:data:`MAX_AGE_DAYS`: a stale rate is a wrong payment, so the caller gets a clear error instead.
Cross rates go through the euro, as the ECB quotes everything against it. The organization's
FX fee (basis points of the converted amount) is taken from the converted amount and shown.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.fx import ecb
from laurel.fx.models import FxRate
from laurel.kit import currency
from laurel.kit.clock import utcnow
from laurel.kit.errors import AppError, field_error
from laurel.kit.ids import uuid7
from laurel.kit.money import Money
from laurel.kit.sql import insert_rows
from laurel.organizations import service as organizations
from laurel.organizations.models import Organization

MAX_AGE_DAYS = 7
"""Longest gap between publications the ECB has (Easter plus a weekend) with room to spare."""
MAX_FEE_BPS = 2_000


class NoRate(AppError):
    """No usable rate for a currency on a day: nothing was converted."""

    status = 422
    code = "no_fx_rate"


@dataclass(frozen=True, slots=True)
class Stored:
    days: int
    inserted: int
    unchanged: int
    problems: list[str]
    skipped_currencies: list[str]
    first_day: date | None
    last_day: date | None


@dataclass(frozen=True, slots=True)
class Conversion:
    original: Money
    converted: Money
    """What the learner receives, after the fee."""
    fee: Money
    """The FX fee in the target currency (zero when no conversion was needed)."""
    rate: Decimal
    """Units of the target currency for one unit of the original currency, fee excluded."""
    rate_date: date | None
    source: str | None

    def to_json(self) -> dict[str, object]:
        return {
            "original": self.original.to_json(),
            "converted": self.converted.to_json(),
            "fee": self.fee.to_json(),
            "rate": str(self.rate),
            "rate_date": self.rate_date.isoformat() if self.rate_date else None,
            "source": self.source,
        }


def store(session: Session, parsed: ecb.Parsed, *, source: str, actor: str) -> Stored:
    """Keep every quote not stored before; the first publication of a day wins.

    When anything new was stored, rewards held ``fx_rate_unavailable`` go back through their
    gates in the same transaction (and to the worker, which converts them at the new rate).
    """
    if not parsed.quotes:
        detail = "; ".join(parsed.problems[:5]) or "no rates found"
        raise field_error("file", f"nothing to import: {detail}")
    now = utcnow()
    rows = [
        {
            "id": uuid7(),
            "source": source,
            "base": ecb.BASE,
            "quote": q.currency,
            "rate": str(q.rate),
            "rate_date": q.day,
            "imported_at": now,
        }
        for q in parsed.quotes
    ]
    inserted = insert_rows(
        session,
        FxRate.__table__,  # type: ignore[arg-type]
        rows,
        ("source", "base", "quote", "rate_date"),
    )
    days = sorted({q.day for q in parsed.quotes})
    outcome = Stored(
        days=len(days),
        inserted=len(inserted),
        unchanged=len(rows) - len(inserted),
        problems=parsed.problems,
        skipped_currencies=sorted(parsed.skipped_currencies),
        first_day=days[0],
        last_day=days[-1],
    )
    if inserted:
        # Rewards held for want of a rate are converted now (delivery imports fx: no cycle
        # at import time).
        from laurel.delivery import currency  # noqa: PLC0415

        everyone = organizations.list_all(session)
        currency.release_waiting(session, [o.id for o in everyone], actor)
        for organization in everyone:
            audit.record(
                session,
                organization_id=organization.id,
                actor=actor,
                action="fx:rates:import",
                target_type="fx_rates",
                target_id=source,
                details={
                    "source": source,
                    "inserted": outcome.inserted,
                    "first_day": outcome.first_day.isoformat() if outcome.first_day else None,
                    "last_day": outcome.last_day.isoformat() if outcome.last_day else None,
                },
            )
    return outcome


def _euro_rate(
    session: Session, code: str, on: date, source: str | None
) -> tuple[Decimal, date, str]:
    """Units of ``code`` per euro on the newest day at or before ``on``."""
    if code == ecb.BASE:
        return Decimal(1), on, source or ecb.SOURCE
    query = (
        select(FxRate.rate, FxRate.rate_date, FxRate.source)
        .where(
            FxRate.base == ecb.BASE,
            FxRate.quote == code,
            FxRate.rate_date <= on,
            FxRate.rate_date > on - timedelta(days=MAX_AGE_DAYS),
        )
        .order_by(FxRate.rate_date.desc(), (FxRate.source != ecb.SOURCE), FxRate.source)
        .limit(1)
    )
    if source is not None:
        query = query.where(FxRate.source == source)
    row = session.execute(query).first()
    if row is None:
        raise NoRate(
            {
                "currency": code,
                "on": on.isoformat(),
                "message": f"no exchange rate for {code} published in the {MAX_AGE_DAYS} days "
                f"up to {on.isoformat()}; import current rates (laurel fx import)",
            }
        )
    return Decimal(row.rate), row.rate_date, row.source


def rate(
    session: Session, base: str, quote: str, on: date, *, source: str | None = None
) -> tuple[Decimal, date | None, str | None]:
    """Units of ``quote`` for one ``base`` on ``on``: (rate, publication day, source)."""
    for code, name in ((base, "currency"), (quote, "to")):
        if not currency.is_known(code) or code == currency.POINTS:
            raise field_error(name, f"{code!r} is not an active ISO 4217 currency")
    if base == quote:
        return Decimal(1), None, None
    base_rate, base_day, base_source = _euro_rate(session, base, on, source)
    quote_rate, quote_day, quote_source = _euro_rate(session, quote, on, source)
    day = min(base_day, quote_day)
    # The quote side names the source, except when it is the euro itself (rate 1 by definition).
    name = base_source if quote == ecb.BASE else quote_source
    return quote_rate / base_rate, day, name


def fee_bps(session: Session, organization_id: uuid.UUID) -> int:
    organization = session.get(Organization, organization_id)
    return organization.fx_fee_bps if organization is not None else 0


def convert(
    session: Session,
    organization_id: uuid.UUID,
    amount: Money,
    to_currency: str,
    on: date,
    *,
    with_fee: bool = True,
) -> Conversion:
    """``amount`` in ``to_currency`` at the rate of ``on``, less the organization's FX fee."""
    if amount.currency == to_currency:
        zero = Money(0, to_currency)
        return Conversion(amount, amount, zero, Decimal(1), None, None)
    factor, day, source = rate(session, amount.currency, to_currency, on)
    gross = Money.from_decimal(amount.as_decimal() * factor, to_currency)
    bps = fee_bps(session, organization_id) if with_fee else 0
    fee = Money.from_decimal(gross.as_decimal() * bps / Decimal(10_000), to_currency)
    return Conversion(
        original=amount,
        converted=Money(gross.minor - fee.minor, to_currency),
        fee=fee,
        rate=factor,
        rate_date=day,
        source=source,
    )


def to_usd(session: Session, organization_id: uuid.UUID, amount: Money, on: date) -> Money:
    """The USD equivalent (no fee) at the rate of ``on``: what tax aggregation counts."""
    return convert(session, organization_id, amount, "USD", on, with_fee=False).converted


def set_fee(session: Session, organization_id: uuid.UUID, bps: int, *, actor: str) -> int:
    if isinstance(bps, bool) or not 0 <= bps <= MAX_FEE_BPS:
        raise field_error(
            "fee_bps", f"must be a whole number of basis points from 0 to {MAX_FEE_BPS}"
        )
    organization = session.get(Organization, organization_id)
    if organization is None:
        raise field_error("organization", "unknown organization")
    before = organization.fx_fee_bps
    organization.fx_fee_bps = bps
    audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="fx:fee:set",
        target_type="organization",
        target_id=organization_id,
        details={"before_bps": before, "after_bps": bps},
    )
    return bps


def rates_on(session: Session, on: date, *, source: str | None = None) -> list[FxRate]:
    """For each currency, the newest rate at or before ``on`` (within :data:`MAX_AGE_DAYS`)."""
    query = (
        select(FxRate)
        .where(FxRate.rate_date <= on, FxRate.rate_date > on - timedelta(days=MAX_AGE_DAYS))
        .order_by(FxRate.quote, FxRate.rate_date.desc(), (FxRate.source != ecb.SOURCE))
    )
    if source is not None:
        query = query.where(FxRate.source == source)
    newest: dict[str, FxRate] = {}
    for row in session.scalars(query):
        newest.setdefault(row.quote, row)
    return list(newest.values())
