"""A budget's burn-down: money reserved and spent, day by day, over its current window.

Reconstructed from the window's reservations, which keep when they were made (``created_at``)
and when they last changed (``updated_at``): a reservation counts as reserved from the day it
was made until the day it was settled, then as spent (delivered) or not at all (released). A
reservation renewed after a release counts from its first creation: the line is a picture of
the window, the window's own counters are the truth (and the last point equals them for a
window without renewals).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from laurel.budgets import service
from laurel.budgets.models import Budget, BudgetReservation, BudgetWindow, Period, ReservationState
from laurel.budgets.reservations import window_of
from laurel.kit.clock import utcnow

MAX_POINTS = 400
"""A total budget may run for years: beyond this many days the line is drawn per week."""


@dataclass(frozen=True, slots=True)
class BurnDown:
    budget: service.BudgetView
    days: list[date]
    reserved: list[int]
    """Minor units of the budget's currency reserved at the end of each day."""
    spent: list[int]
    """Minor units spent (delivered) by the end of each day."""

    @property
    def limit(self) -> int:
        return self.budget.limit.minor


def burn_down(
    session: Session, organization_id: uuid.UUID, budget_id: uuid.UUID, on: date | None = None
) -> BurnDown:
    """The window holding ``on`` (default today), from its first day to ``on`` (or its end)."""
    today = on or utcnow().date()
    view = service.get(session, organization_id, budget_id, today)
    budget = session.scalar(
        select(Budget).where(Budget.organization_id == organization_id, Budget.id == budget_id)
    )
    assert budget is not None  # service.get answered 404 otherwise
    starts_on, ends_on = window_of(budget.period, today)
    window_id = session.scalar(
        select(BudgetWindow.id).where(
            BudgetWindow.budget_id == budget_id, BudgetWindow.starts_on == starts_on
        )
    )
    rows = (
        session.execute(
            select(
                BudgetReservation.amount_minor,
                BudgetReservation.state,
                BudgetReservation.created_at,
                BudgetReservation.updated_at,
            ).where(
                BudgetReservation.organization_id == organization_id,
                BudgetReservation.window_id == window_id,
            )
        ).all()
        if window_id is not None
        else []
    )
    first = starts_on
    if budget.period == Period.total:
        made = [row.created_at.date() for row in rows] + [budget.created_at.date()]
        first = min(made)
    last = today if ends_on is None else min(today, ends_on - timedelta(days=1))
    step = 1 if (last - first).days < MAX_POINTS else 7
    days = [first + timedelta(days=n) for n in range(0, (last - first).days + 1, step)]
    if days[-1] != last:
        days.append(last)
    reserved = [0] * len(days)
    spent = [0] * len(days)
    for amount, state, created_at, updated_at in rows:
        made_on, settled_on = created_at.date(), updated_at.date()
        for i, day in enumerate(days):
            if day < made_on:
                continue
            if state == ReservationState.reserved or day < settled_on:
                reserved[i] += amount
            elif state == ReservationState.spent:
                spent[i] += amount
    return BurnDown(view, days, reserved, spent)
