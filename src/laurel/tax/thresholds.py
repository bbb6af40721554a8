"""Reporting thresholds per tax year: the law's defaults, and each organization's own.

IRC §6041(a) as amended by P.L. 119-21 §70433: $600 or more for payments made through
31 December 2025, $2,000 or more for payments made from 1 January 2026, indexed for inflation
from 2027 in $100 steps. The indexed figure is published by the IRS each year and is not
computed here: until an organization enters it, later years default to $2,000. The test is
"equals or exceeds".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import NotFound, field_error
from laurel.kit.money import Money
from laurel.kit.sql import insert_ignore
from laurel.organizations import revision
from laurel.tax.models import TaxThreshold

FIRST_YEAR = 2000
LAST_YEAR = 2100
_BEFORE_2026 = 60_000
_FROM_2026 = 200_000


class ThresholdNotSet(NotFound):
    code = "threshold_not_set"


@dataclass(frozen=True, slots=True)
class Threshold:
    tax_year: int
    amount_minor: int
    """USD cents: reportable when the year total equals or exceeds this."""
    source: str
    """``law`` (the default) or ``organization``."""


def default_minor(tax_year: int) -> int:
    return _BEFORE_2026 if tax_year <= 2025 else _FROM_2026


def _check_year(tax_year: int) -> None:
    if not FIRST_YEAR <= tax_year <= LAST_YEAR:
        raise field_error("tax_year", f"must be between {FIRST_YEAR} and {LAST_YEAR}")


def for_years(
    session: Session, organization_id: uuid.UUID, years: set[int]
) -> dict[int, Threshold]:
    """The threshold in force for each year: the organization's row, else the law's default.
    One query whatever the number of years."""
    found = {y: Threshold(y, default_minor(y), "law") for y in years}
    if not years:
        return found
    for year, amount_minor in _own(session, organization_id):
        if year in found:
            found[year] = Threshold(year, amount_minor, "organization")
    return found


def _own(session: Session, organization_id: uuid.UUID) -> tuple[tuple[int, int], ...]:
    """(year, amount) of every threshold the organization set, read once per change."""

    def build() -> tuple[tuple[int, int], ...]:
        rows = session.execute(
            select(TaxThreshold.tax_year, TaxThreshold.amount_minor).where(
                TaxThreshold.organization_id == organization_id
            )
        )
        return tuple((year, amount) for year, amount in rows)

    return revision.shared(session, organization_id, "tax.thresholds", build)


def for_year(session: Session, organization_id: uuid.UUID, tax_year: int) -> Threshold:
    return for_years(session, organization_id, {tax_year})[tax_year]


def listing(session: Session, organization_id: uuid.UUID, first: int, last: int) -> list[Threshold]:
    _check_year(first)
    _check_year(last)
    if last < first:
        raise field_error("to", "must not be before `from`")
    if last - first > 100:
        raise field_error("to", "at most 100 years at a time")
    years = for_years(session, organization_id, set(range(first, last + 1)))
    return [years[y] for y in sorted(years)]


def put(session: Session, actor: Actor, tax_year: int, amount: Money) -> Threshold:
    """Set the organization's threshold for a year (audited); answers the new value."""
    _check_year(tax_year)
    if amount.currency != "USD":
        raise field_error("amount.currency", "thresholds are in USD")
    if amount.minor <= 0:
        raise field_error("amount.amount", "must be more than zero")
    before = for_year(session, actor.organization_id, tax_year)
    now = utcnow()
    inserted = insert_ignore(
        session,
        TaxThreshold.__table__,  # type: ignore[arg-type]
        {
            "id": uuid.uuid4(),
            "organization_id": actor.organization_id,
            "tax_year": tax_year,
            "amount_minor": amount.minor,
            "updated_by": actor.name,
            "updated_at": now,
            "created_at": now,
        },
        ["organization_id", "tax_year"],
    )
    if not inserted:
        row = session.scalar(
            select(TaxThreshold)
            .where(
                TaxThreshold.organization_id == actor.organization_id,
                TaxThreshold.tax_year == tax_year,
            )
            .with_for_update()
        )
        assert row is not None
        row.amount_minor = amount.minor
        row.updated_by = actor.name
        row.updated_at = now
        session.flush()
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="tax:threshold:set",
        target_type="tax_threshold",
        target_id=str(tax_year),
        details={
            "tax_year": tax_year,
            "from": Money(before.amount_minor, "USD").format_amount(),
            "to": amount.format_amount(),
        },
    )
    return Threshold(tax_year, amount.minor, "organization")


def reset(session: Session, actor: Actor, tax_year: int) -> Threshold:
    """Drop the organization's own value: the law's default applies again."""
    _check_year(tax_year)
    gone = session.execute(
        delete(TaxThreshold)
        .where(
            TaxThreshold.organization_id == actor.organization_id,
            TaxThreshold.tax_year == tax_year,
        )
        .returning(TaxThreshold.amount_minor)
    ).first()
    if gone is None:
        raise ThresholdNotSet(f"{tax_year} uses the default already; nothing to reset")
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="tax:threshold:reset",
        target_type="tax_threshold",
        target_id=str(tax_year),
        details={"tax_year": tax_year, "from": Money(gone[0], "USD").format_amount()},
    )
    return Threshold(tax_year, default_minor(tax_year), "law")
