"""Budget reservation: one guarded UPDATE decides whether money is left.

``reserve`` succeeds only when ``limit - reserved - spent`` covers the amount, in the same
statement that adds it to ``reserved``; two concurrent reservations can never overdraw.
Reservations are unique per reward, so retried gates never reserve twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.budgets.models import Budget, BudgetReservation, ReservationState
from laurel.kit.clock import utcnow
from laurel.kit.errors import field_error
from laurel.kit.ids import uuid7
from laurel.kit.money import Money


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


def reserve(
    session: Session,
    *,
    organization_id: uuid.UUID,
    program_id: uuid.UUID,
    reward_id: uuid.UUID,
    amount: Money,
) -> bool:
    """Reserve money for a reward; True if reserved now or earlier, False if the budget is short.

    A program without a budget row has no budget limit and always passes. The common case
    (first time through, money left) is one lookup, one guarded UPDATE and one INSERT.
    """
    existing = session.execute(
        select(BudgetReservation.id, BudgetReservation.state).where(
            BudgetReservation.reward_id == reward_id
        )
    ).first()
    if existing is not None and existing.state != ReservationState.released:
        return True
    now = utcnow()
    budget_id = session.scalar(
        update(Budget)
        .where(
            Budget.organization_id == organization_id,
            Budget.program_id == program_id,
            Budget.currency == amount.currency,
            Budget.limit_minor - Budget.reserved_minor - Budget.spent_minor >= amount.minor,
        )
        .values(reserved_minor=Budget.reserved_minor + amount.minor, updated_at=now)
        .returning(Budget.id)
        .execution_options(synchronize_session=False)
    )
    if budget_id is None:
        # Either there is no budget (no limit: pass) or it is short (hold).
        return (
            session.scalar(
                select(Budget.id).where(
                    Budget.organization_id == organization_id, Budget.program_id == program_id
                )
            )
            is None
        )
    if existing is not None:
        # A retried reward reserves again through the row its first attempt released.
        session.execute(
            update(BudgetReservation)
            .where(BudgetReservation.id == existing.id)
            .values(state=ReservationState.reserved, amount_minor=amount.minor, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    else:
        session.execute(
            insert(BudgetReservation).values(
                id=uuid7(),
                organization_id=organization_id,
                budget_id=budget_id,
                reward_id=reward_id,
                amount_minor=amount.minor,
                state=ReservationState.reserved,
                created_at=now,
                updated_at=now,
            )
        )
    return True


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
