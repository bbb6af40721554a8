"""Budget reservation: one guarded UPDATE decides whether money is left.

``reserve`` succeeds only when ``limit - reserved - spent`` covers the amount, in the same
statement that adds it to ``reserved``; two concurrent reservations can never overdraw.
Reservations are unique per reward, so retried gates never reserve twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.budgets.models import Budget, BudgetReservation, ReservationState
from laurel.kit.clock import utcnow
from laurel.kit.errors import field_error
from laurel.kit.ids import uuid7
from laurel.kit.money import Money
from laurel.kit.observe import chunks
from laurel.kit.sql import insert_many
from laurel.rewards import gates


@dataclass(frozen=True, slots=True)
class BudgetView:
    limit: Money
    reserved: Money
    spent: Money

    @property
    def available(self) -> Money:
        return Money(self.limit.minor - self.reserved.minor - self.spent.minor, self.limit.currency)


def _view(budget: Budget) -> BudgetView:
    return BudgetView(
        Money(budget.limit_minor, budget.currency),
        Money(budget.reserved_minor, budget.currency),
        Money(budget.spent_minor, budget.currency),
    )


def set_limit(
    session: Session,
    *,
    organization_id: uuid.UUID,
    program_id: uuid.UUID,
    limit: Money,
    actor: str,
) -> BudgetView:
    budget = session.scalar(
        select(Budget)
        .where(Budget.organization_id == organization_id, Budget.program_id == program_id)
        .with_for_update()
    )
    if budget is None:
        budget = Budget(
            organization_id=organization_id,
            program_id=program_id,
            currency=limit.currency,
            limit_minor=limit.minor,
        )
        session.add(budget)
        session.flush()
        before = None
    else:
        if budget.currency != limit.currency:
            raise field_error("budget.currency", f"the budget is kept in {budget.currency}")
        before = Money(budget.limit_minor, budget.currency).format_amount()
        budget.limit_minor = limit.minor
        budget.updated_at = utcnow()
    audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="budgets:budget:set",
        target_type="program",
        target_id=program_id,
        details={"before": before, "limit": limit.format_amount(), "currency": limit.currency},
    )
    return _view(budget)


def views(
    session: Session, organization_id: uuid.UUID, program_ids: list[uuid.UUID]
) -> dict[uuid.UUID, BudgetView]:
    if not program_ids:
        return {}
    rows = session.scalars(
        select(Budget).where(
            Budget.organization_id == organization_id, Budget.program_id.in_(program_ids)
        )
    )
    return {b.program_id: _view(b) for b in rows}


_BUDGETS: Table = Budget.__table__  # type: ignore[assignment]
_RESERVATION_ROWS: Table = BudgetReservation.__table__  # type: ignore[assignment]


# Built once with parameters: building a statement costs more than running it on SQLite.
@cache
def _reservations() -> Any:
    # Built on first use, once every table's column types are resolved.
    return select(
        _RESERVATION_ROWS.c.reward_id, _RESERVATION_ROWS.c.id, _RESERVATION_ROWS.c.state
    ).where(_RESERVATION_ROWS.c.reward_id.in_(bindparam("_ids", expanding=True)))


@cache
def _lock_budgets() -> Any:
    # Built on first use, once every table's column types are resolved.
    return (
        select(
            _BUDGETS.c.id,
            _BUDGETS.c.program_id,
            _BUDGETS.c.currency,
            _BUDGETS.c.limit_minor,
            _BUDGETS.c.reserved_minor,
            _BUDGETS.c.spent_minor,
        )
        .where(
            _BUDGETS.c.organization_id == bindparam("_org"),
            _BUDGETS.c.program_id.in_(bindparam("_programs", expanding=True)),
        )
        .order_by(_BUDGETS.c.id)
        .with_for_update()
    )


# Guarded even under the row lock: money is never overspent, whatever happened in between.
@cache
def _reserve() -> Any:
    # Built on first use, once every table's column types are resolved.
    return (
        update(_BUDGETS)
        .where(
            _BUDGETS.c.id == bindparam("_id"),
            _BUDGETS.c.limit_minor - _BUDGETS.c.reserved_minor - _BUDGETS.c.spent_minor
            >= bindparam("_total"),
        )
        .values(
            reserved_minor=_BUDGETS.c.reserved_minor + bindparam("_total"),
            updated_at=bindparam("_now"),
        )
        .returning(_BUDGETS.c.id)
    )


@dataclass(frozen=True, slots=True)
class _Budget:
    id: uuid.UUID
    program_id: uuid.UUID
    currency: str
    limit_minor: int
    reserved_minor: int
    spent_minor: int


@dataclass(frozen=True, slots=True)
class Claim:
    """A reward asking its program's budget for money."""

    organization_id: uuid.UUID
    program_id: uuid.UUID
    reward_id: uuid.UUID
    amount: Money


def reserve_many(session: Session, claims: Sequence[Claim]) -> set[uuid.UUID]:
    """Reserve money for rewards in order, as if one after the other; answers the reward ids
    that hold a reservation now (made now or earlier). A program without a budget row has no
    limit and its rewards always pass; a reward that does not fit gets nothing, and a later,
    smaller one may still fit.

    The budgets are read under a row lock (PostgreSQL; SQLite serialises writers anyway), so
    the sums decided here are the sums written: one guarded UPDATE per budget, one INSERT for
    all the reservations.
    """
    if not claims:
        return set()
    existing: dict[uuid.UUID, tuple[uuid.UUID, str]] = {}
    new = gates.new_rewards(session)  # cannot hold a reservation yet
    for part in chunks([c.reward_id for c in claims if c.reward_id not in new]):
        for row in session.execute(_reservations(), {"_ids": part}):
            existing[row[0]] = (row[1], row[2])
    granted = {r for r, (_, state) in existing.items() if state != ReservationState.released}
    todo = [c for c in claims if c.reward_id not in granted]
    if not todo:
        return granted
    by_program: dict[tuple[uuid.UUID, uuid.UUID], _Budget] = {}
    for organization_id in sorted({c.organization_id for c in todo}):
        program_ids = sorted({c.program_id for c in todo if c.organization_id == organization_id})
        params = {"_org": organization_id, "_programs": program_ids}
        for row in session.execute(_lock_budgets(), params):
            budget = _Budget(*row)
            by_program[(organization_id, budget.program_id)] = budget
    taken: dict[uuid.UUID, list[Claim]] = {}
    totals: dict[uuid.UUID, int] = {}
    for claim in todo:
        found = by_program.get((claim.organization_id, claim.program_id))
        if found is None:
            granted.add(claim.reward_id)
            continue
        budget = found
        if budget.currency != claim.amount.currency:
            continue
        left = budget.limit_minor - budget.reserved_minor - budget.spent_minor
        if claim.amount.minor <= left - totals.get(budget.id, 0):
            totals[budget.id] = totals.get(budget.id, 0) + claim.amount.minor
            taken.setdefault(budget.id, []).append(claim)
    now = utcnow()
    inserts: list[dict[str, object]] = []
    renewals: list[dict[str, object]] = []
    for budget_id, claimed in taken.items():
        total = totals[budget_id]
        moved = session.scalar(_reserve(), {"_id": budget_id, "_total": total, "_now": now})
        if moved is None:  # cannot happen under the row lock; hold rather than overspend
            continue
        for claim in claimed:
            granted.add(claim.reward_id)
            if claim.reward_id in existing:
                # A retried reward reserves again through the row its first attempt released.
                renewals.append(
                    {"_id": existing[claim.reward_id][0], "_amount": claim.amount.minor}
                )
            else:
                inserts.append(
                    {
                        "id": uuid7(),
                        "organization_id": claim.organization_id,
                        "budget_id": budget_id,
                        "reward_id": claim.reward_id,
                        "amount_minor": claim.amount.minor,
                        "state": ReservationState.reserved,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
    if inserts:
        insert_many(session, _RESERVATION_ROWS, inserts)
    if renewals:
        table = _RESERVATION_ROWS
        session.execute(
            update(table)
            .where(table.c.id == bindparam("_id"))
            .values(
                state=ReservationState.reserved, amount_minor=bindparam("_amount"), updated_at=now
            ),
            renewals,
        )
    return granted


def _settle(session: Session, reward_id: uuid.UUID, to: ReservationState) -> None:
    reservation = session.scalar(
        select(BudgetReservation)
        .where(
            BudgetReservation.reward_id == reward_id,
            BudgetReservation.state == ReservationState.reserved,
        )
        .with_for_update()
    )
    if reservation is None:
        return
    amount = reservation.amount_minor
    values = (
        {
            "reserved_minor": Budget.reserved_minor - amount,
            "spent_minor": Budget.spent_minor + amount,
        }
        if to is ReservationState.spent
        else {"reserved_minor": Budget.reserved_minor - amount}
    )
    session.execute(
        update(Budget)
        .where(Budget.id == reservation.budget_id)
        .values(**values, updated_at=utcnow())
    )
    reservation.state = to
    reservation.updated_at = utcnow()


def spend(session: Session, reward_id: uuid.UUID) -> None:
    """The reward was delivered: its reservation becomes spending."""
    _settle(session, reward_id, ReservationState.spent)


def release(session: Session, reward_id: uuid.UUID) -> None:
    """The reward will not be paid: its reservation returns to the budget."""
    _settle(session, reward_id, ReservationState.released)
