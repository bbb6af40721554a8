"""Budgets: what rewards may commit, per program, department and period.

This module manages budgets (create, change, delete, views); :mod:`laurel.budgets.reservations`
reserves, spends and releases their money (re-exported here for the other domains).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.budgets.models import Budget, BudgetReservation, BudgetWindow, Period, ReservationState
from laurel.budgets.reservations import (
    EPOCH,
    Claim,
    Outcome,
    release,
    reserve_many,
    spend,
    window_of,
)
from laurel.kit.clock import utcnow
from laurel.kit.errors import Conflict, NotFound, field_error
from laurel.kit.ids import uuid7
from laurel.kit.money import Money
from laurel.kit.sql import insert_rows

# Reserving lives in laurel.budgets.reservations; other domains reach it through this service.
__all__ = [
    "EPOCH",
    "BudgetExists",
    "BudgetNotFound",
    "BudgetView",
    "Claim",
    "Outcome",
    "change",
    "create",
    "delete",
    "get",
    "list_budgets",
    "release",
    "release_waiting",
    "reserve_many",
    "scope_key",
    "set_limit",
    "spend",
    "views",
    "window_of",
]


class BudgetNotFound(NotFound):
    code = "budget_not_found"


class BudgetExists(Conflict):
    code = "budget_exists"


def scope_key(program_id: uuid.UUID | None, department: str | None, period: str) -> str:
    return f"{program_id or '*'}/{department or '*'}/{period}"


# ---------------------------------------------------------------- managing budgets


@dataclass(frozen=True, slots=True)
class BudgetView:
    """A budget and the money of one window (the current one unless asked otherwise)."""

    limit: Money
    reserved: Money
    spent: Money
    id: uuid.UUID | None = None
    name: str = ""
    program_id: uuid.UUID | None = None
    department: str | None = None
    period: str = Period.total
    window_start: date | None = None
    window_end: date | None = None

    @property
    def available(self) -> Money:
        return Money(self.limit.minor - self.reserved.minor - self.spent.minor, self.limit.currency)


def _view(budget: Budget, window: BudgetWindow | None, on: date) -> BudgetView:
    start, end = window_of(budget.period, on)
    reserved = window.reserved_minor if window else 0
    spent = window.spent_minor if window else 0
    return BudgetView(
        Money(budget.limit_minor, budget.currency),
        Money(reserved, budget.currency),
        Money(spent, budget.currency),
        id=budget.id,
        name=budget.name,
        program_id=budget.program_id,
        department=budget.department,
        period=budget.period,
        window_start=start if budget.period != Period.total else None,
        window_end=end,
    )


def _windows_on(
    session: Session, budgets: Sequence[Budget], on: date
) -> dict[uuid.UUID, BudgetWindow]:
    starts = {b.id: window_of(b.period, on)[0] for b in budgets}
    if not starts:
        return {}
    found = session.scalars(
        select(BudgetWindow).where(BudgetWindow.budget_id.in_(list(starts)))
    ).all()
    return {w.budget_id: w for w in found if w.starts_on == starts[w.budget_id]}


def _get(session: Session, organization_id: uuid.UUID, budget_id: uuid.UUID) -> Budget:
    budget = session.scalar(
        select(Budget).where(Budget.organization_id == organization_id, Budget.id == budget_id)
    )
    if budget is None:
        raise BudgetNotFound(f"no budget {budget_id}")
    return budget


def get(
    session: Session, organization_id: uuid.UUID, budget_id: uuid.UUID, on: date | None = None
) -> BudgetView:
    day = on or utcnow().date()
    budget = _get(session, organization_id, budget_id)
    return _view(budget, _windows_on(session, [budget], day).get(budget.id), day)


def list_budgets(
    session: Session,
    organization_id: uuid.UUID,
    *,
    program_id: uuid.UUID | None = None,
    department: str | None = None,
    on: date | None = None,
) -> list[BudgetView]:
    day = on or utcnow().date()
    query = select(Budget).where(Budget.organization_id == organization_id)
    if program_id is not None:
        query = query.where(Budget.program_id == program_id)
    if department is not None:
        query = query.where(Budget.department == department)
    budgets = list(session.scalars(query.order_by(Budget.id)))
    windows = _windows_on(session, budgets, day)
    return [_view(b, windows.get(b.id), day) for b in budgets]


def create(
    session: Session,
    *,
    organization_id: uuid.UUID,
    limit: Money,
    actor: str,
    program_id: uuid.UUID | None = None,
    department: str | None = None,
    period: Period = Period.total,
    name: str = "",
) -> BudgetView:
    """A new budget; one per program, department and period (409 when it exists)."""
    if limit.minor < 0:
        raise field_error("limit.amount", "a budget cannot be negative")
    if program_id is not None:
        _check_program(session, organization_id, program_id, limit.currency)
    key = scope_key(program_id, department, period)
    inserted = insert_rows(
        session,
        Budget.__table__,  # type: ignore[arg-type]
        [
            {
                "id": uuid7(),
                "organization_id": organization_id,
                "created_at": utcnow(),
                "name": name,
                "program_id": program_id,
                "department": department,
                "period": period,
                "scope_key": key,
                "currency": limit.currency,
                "limit_minor": limit.minor,
                "updated_at": utcnow(),
            }
        ],
        ("organization_id", "scope_key"),
    )
    if not inserted:
        raise BudgetExists(
            "a budget for this program, department and period exists; change its limit instead"
        )
    budget_id = next(iter(inserted))
    audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="budgets:budget:create",
        target_type="budget",
        target_id=budget_id,
        details={
            "program_id": str(program_id) if program_id else None,
            "department": department,
            "period": str(period),
            "limit": limit.format_amount(),
            "currency": limit.currency,
        },
    )
    return get(session, organization_id, budget_id)


def _check_program(
    session: Session, organization_id: uuid.UUID, program_id: uuid.UUID, currency: str
) -> None:
    from laurel.programs import service as programs  # noqa: PLC0415 - import cycle

    paid_in = programs.currency_of(session, organization_id, program_id)
    if paid_in is None:
        raise field_error("program_id", f"no program {program_id} in this organization")
    if paid_in != currency:
        raise field_error(
            "limit.currency", f"the program pays in {paid_in}; its budget is kept in {paid_in}"
        )


def change(
    session: Session,
    *,
    organization_id: uuid.UUID,
    budget_id: uuid.UUID,
    actor: str,
    limit: Money | None = None,
    name: str | None = None,
) -> BudgetView:
    """Change a budget's limit or name. A raised limit re-runs the gates of rewards held
    with ``budget_exhausted`` that the budget applies to, oldest first."""
    budget = session.scalar(
        select(Budget)
        .where(Budget.organization_id == organization_id, Budget.id == budget_id)
        .with_for_update()
    )
    if budget is None:
        raise BudgetNotFound(f"no budget {budget_id}")
    details: dict[str, Any] = {}
    raised = False
    if limit is not None:
        if limit.currency != budget.currency:
            raise field_error("limit.currency", f"the budget is kept in {budget.currency}")
        if limit.minor < 0:
            raise field_error("limit.amount", "a budget cannot be negative")
        raised = limit.minor > budget.limit_minor
        details["before"] = Money(budget.limit_minor, budget.currency).format_amount()
        details["limit"] = limit.format_amount()
        details["currency"] = budget.currency
        budget.limit_minor = limit.minor
    if name is not None:
        details["name"] = name
        budget.name = name
    budget.updated_at = utcnow()
    audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="budgets:budget:update",
        target_type="budget",
        target_id=budget.id,
        details=details,
    )
    if raised:
        release_waiting(session, organization_id, budget.program_id, actor)
    return get(session, organization_id, budget.id)


def delete(
    session: Session, *, organization_id: uuid.UUID, budget_id: uuid.UUID, actor: str
) -> None:
    """Remove a budget that no reward holds money on; rewards waiting on it are re-checked."""
    budget = _get(session, organization_id, budget_id)
    held = session.scalar(
        select(BudgetReservation.id)
        .where(
            BudgetReservation.budget_id == budget.id,
            BudgetReservation.state == ReservationState.reserved,
        )
        .limit(1)
    )
    if held is not None:
        raise Conflict("rewards hold money on this budget; lower its limit instead")
    program_id = budget.program_id
    session.execute(
        BudgetReservation.__table__.delete().where(BudgetReservation.budget_id == budget.id)  # type: ignore[attr-defined]
    )
    session.execute(
        BudgetWindow.__table__.delete().where(BudgetWindow.budget_id == budget.id)  # type: ignore[attr-defined]
    )
    session.delete(budget)
    session.flush()
    audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="budgets:budget:delete",
        target_type="budget",
        target_id=budget_id,
        details={"scope": budget.scope_key},
    )
    release_waiting(session, organization_id, program_id, actor)


def release_waiting(
    session: Session, organization_id: uuid.UUID, program_id: uuid.UUID | None, actor: str
) -> int:
    """Re-run the gates of rewards held for want of money, in the order they were earned."""
    from laurel.budgets.gate import BUDGET_EXHAUSTED  # noqa: PLC0415 - import cycle
    from laurel.rewards import service as rewards  # noqa: PLC0415 - import cycle

    return rewards.release_held(session, organization_id, program_id, BUDGET_EXHAUSTED, actor)


# ---------------------------------------------------------------- a program's own budget


def set_limit(
    session: Session,
    *,
    organization_id: uuid.UUID,
    program_id: uuid.UUID,
    limit: Money,
    actor: str,
) -> BudgetView:
    """Create or change the program's total budget (the ``budget`` field of a program)."""
    key = scope_key(program_id, None, Period.total)
    found = session.scalar(
        select(Budget.id).where(Budget.organization_id == organization_id, Budget.scope_key == key)
    )
    if found is None:
        return create(
            session,
            organization_id=organization_id,
            limit=limit,
            actor=actor,
            program_id=program_id,
        )
    # The caller (programs) releases waiting rewards after its own changes.
    budget = session.scalar(select(Budget).where(Budget.id == found).with_for_update())
    assert budget is not None
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
    return get(session, organization_id, budget.id)


def views(
    session: Session, organization_id: uuid.UUID, program_ids: list[uuid.UUID]
) -> dict[uuid.UUID, BudgetView]:
    """Each program's own total budget, if it has one."""
    if not program_ids:
        return {}
    budgets = list(
        session.scalars(
            select(Budget).where(
                Budget.organization_id == organization_id,
                Budget.program_id.in_(program_ids),
                Budget.department.is_(None),
                Budget.period == Period.total,
            )
        )
    )
    day = utcnow().date()
    windows = _windows_on(session, budgets, day)
    return {b.program_id: _view(b, windows.get(b.id), day) for b in budgets if b.program_id}
