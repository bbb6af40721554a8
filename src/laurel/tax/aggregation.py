"""Year totals per learner, in USD cents, across every program and currency.

A payment counts in the calendar year of its payment date in the payer's zone
(``TaxSettings.timezone``). Reports count what was paid (``delivered`` records). The gate, which
must not let a batch slip past a threshold, also counts what is committed to be paid: records
the gate passed whose reward is ``ready`` or ``issuing``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, Table, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from laurel.kit.observe import chunks
from laurel.rewards.models import Reward, RewardState
from laurel.tax.models import RecordStatus, TaxRecord

Key = tuple[uuid.UUID, int, str]
"""(learner, tax year, form type)."""


def payment_date(instant: datetime, zone: ZoneInfo) -> date:
    """The date a payment was made, for tax: the payer's calendar, not UTC's."""
    return instant.astimezone(zone).date()


def year_bounds(tax_year: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants where the payer's tax year starts and the next one starts."""
    start = datetime.combine(date(tax_year, 1, 1), time(0), zone).astimezone(UTC)
    end = datetime.combine(date(tax_year + 1, 1, 1), time(0), zone).astimezone(UTC)
    return start, end


@cache
def _committed_sql() -> Any:
    # Built once with parameters: the tax gate asks this for every group of single events, and
    # building the statement each time cost more than running it.
    records: Table = TaxRecord.__table__  # type: ignore[assignment]
    rewards: Table = Reward.__table__  # type: ignore[assignment]
    counted = or_(
        records.c.status == bindparam("_delivered"),
        and_(
            records.c.status == bindparam("_gated"),
            rewards.c.state.in_(bindparam("_on_the_way", expanding=True)),
        ),
    )
    return (
        select(
            records.c.learner_id,
            records.c.tax_year,
            records.c.form_type,
            func.sum(records.c.usd_minor),
        )
        # The reward's state says whether a gated payment is still on its way.
        .outerjoin(rewards, rewards.c.id == records.c.reward_id)
        .where(
            records.c.organization_id == bindparam("_org"),
            records.c.livemode == bindparam("_live"),
            records.c.learner_id.in_(bindparam("_ids", expanding=True)),
            records.c.tax_year.in_(bindparam("_years", expanding=True)),
            counted,
        )
        .group_by(records.c.learner_id, records.c.tax_year, records.c.form_type)
    )


def committed(
    session: Session,
    organization_id: uuid.UUID,
    livemode: bool,
    learner_ids: Iterable[uuid.UUID],
    years: set[int],
) -> dict[Key, int]:
    """USD cents paid or committed per learner, year and form type (one query per 500
    learners): delivered records, and gated ones whose reward is ready or issuing."""
    totals: dict[Key, int] = {}
    ids = sorted(set(learner_ids))
    if not ids or not years:
        return totals
    params = {
        "_org": organization_id,
        "_live": livemode,
        "_years": sorted(years),
        "_delivered": RecordStatus.delivered,
        "_gated": RecordStatus.gated,
        "_on_the_way": [RewardState.ready, RewardState.issuing],
    }
    for part in chunks(ids):
        rows = session.execute(_committed_sql(), params | {"_ids": part})
        for learner_id, year, form_type, total in rows:
            totals[(learner_id, year, form_type)] = int(total or 0)
    return totals


@dataclass(frozen=True, slots=True)
class YearTotal:
    learner_id: uuid.UUID
    form_type: str
    box: str
    usd_minor: int
    withholding_minor: int
    payments: int
    backup_withholding: bool
    reports_1042s: bool


def year_totals(
    session: Session,
    organization_id: uuid.UUID,
    tax_year: int,
    *,
    livemode: bool = True,
    form_types: Iterable[str] | None = None,
) -> list[YearTotal]:
    """What was paid in ``tax_year``, per learner and form type (delivered records only)."""
    query: Any = (
        select(
            TaxRecord.learner_id,
            TaxRecord.form_type,
            TaxRecord.box,
            func.sum(TaxRecord.usd_minor),
            func.sum(TaxRecord.withholding_minor),
            func.count(),
            func.max(func.cast(TaxRecord.backup_withholding, Integer)),
            func.max(func.cast(TaxRecord.reports_1042s, Integer)),
        )
        .where(
            TaxRecord.organization_id == organization_id,
            TaxRecord.livemode == livemode,
            TaxRecord.tax_year == tax_year,
            TaxRecord.status == RecordStatus.delivered,
        )
        .group_by(TaxRecord.learner_id, TaxRecord.form_type, TaxRecord.box)
        .order_by(TaxRecord.learner_id, TaxRecord.form_type)
    )
    if form_types is not None:
        query = query.where(TaxRecord.form_type.in_(list(form_types)))
    return [
        YearTotal(
            learner_id=row[0],
            form_type=row[1],
            box=row[2],
            usd_minor=int(row[3] or 0),
            withholding_minor=int(row[4] or 0),
            payments=int(row[5]),
            backup_withholding=bool(row[6]),
            reports_1042s=bool(row[7]),
        )
        for row in session.execute(query)
    ]
