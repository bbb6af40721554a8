"""Reserving money: one guarded UPDATE per budget window decides whether money is left.

A reward draws on every budget that applies to it (its program's or every program's, its
learner's department's or every department's), in the window of each budget's period that
holds the reward's creation day. It gets money from all of them or from none.

``reserve_many`` locks the windows it needs (``SELECT … FOR UPDATE`` in id order, so two
transactions never wait on each other in a circle), decides in memory, then writes one guarded
UPDATE per window: ``limit - reserved - spent`` must still cover the sum in the same statement,
so no interleaving can overdraw. Reservations are unique per (reward, budget), so a retried gate
never reserves twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from laurel.budgets.models import Budget, BudgetReservation, BudgetWindow, Period, ReservationState
from laurel.kit.clock import utcnow
from laurel.kit.errors import Conflict
from laurel.kit.ids import uuid7
from laurel.kit.money import Money
from laurel.kit.observe import chunks
from laurel.kit.sql import insert_many, insert_rows
from laurel.organizations import revision
from laurel.rewards import gates

EPOCH = date(1970, 1, 1)
"""The one window of a total budget starts here."""


def window_of(period: str, day: date) -> tuple[date, date | None]:
    """The [start, end) window of ``period`` that holds ``day``."""
    if period == Period.total:
        return EPOCH, None
    if period == Period.yearly:
        return date(day.year, 1, 1), date(day.year + 1, 1, 1)
    months = 3 if period == Period.quarterly else 1
    first = (day.month - 1) // months * months + 1
    start = date(day.year, first, 1)
    end_month = first + months
    end = date(day.year + (end_month > 12), (end_month - 1) % 12 + 1, 1)
    return start, end


_BUDGETS: Table = Budget.__table__  # type: ignore[assignment]
_WINDOWS: Table = BudgetWindow.__table__  # type: ignore[assignment]
_RESERVATION_ROWS: Table = BudgetReservation.__table__  # type: ignore[assignment]


# Built once with parameters: building a statement costs more than running it on SQLite.
@cache
def _reservations() -> Any:
    # Built on first use, once every table's column types are resolved.
    return select(
        _RESERVATION_ROWS.c.reward_id,
        _RESERVATION_ROWS.c.budget_id,
        _RESERVATION_ROWS.c.id,
        _RESERVATION_ROWS.c.state,
    ).where(_RESERVATION_ROWS.c.reward_id.in_(bindparam("_ids", expanding=True)))


@cache
def _applicable() -> Any:
    return select(
        _BUDGETS.c.id,
        _BUDGETS.c.program_id,
        _BUDGETS.c.department,
        _BUDGETS.c.period,
        _BUDGETS.c.currency,
        _BUDGETS.c.limit_minor,
    ).where(_BUDGETS.c.organization_id == bindparam("_org"))


@cache
def _lock_windows() -> Any:
    return (
        select(
            _WINDOWS.c.id,
            _WINDOWS.c.budget_id,
            _WINDOWS.c.starts_on,
            _WINDOWS.c.reserved_minor,
            _WINDOWS.c.spent_minor,
        )
        .where(_WINDOWS.c.budget_id.in_(bindparam("_budgets", expanding=True)))
        .order_by(_WINDOWS.c.id)
        .with_for_update()
    )


# Guarded even under the row lock: money is never overspent, whatever happened in between.
@cache
def _reserve() -> Any:
    return (
        update(_WINDOWS)
        .where(
            _WINDOWS.c.id == bindparam("_id"),
            bindparam("_limit") - _WINDOWS.c.reserved_minor - _WINDOWS.c.spent_minor
            >= bindparam("_total"),
        )
        .values(
            reserved_minor=_WINDOWS.c.reserved_minor + bindparam("_total"),
            updated_at=bindparam("_now"),
        )
        .returning(_WINDOWS.c.id)
    )


@dataclass(frozen=True, slots=True)
class _Budget:
    id: uuid.UUID
    program_id: uuid.UUID | None
    department: str | None
    period: str
    currency: str
    limit_minor: int


@dataclass(slots=True)
class _Window:
    id: uuid.UUID
    budget_id: uuid.UUID
    starts_on: date
    reserved_minor: int
    spent_minor: int
    taken: int = 0


@dataclass(frozen=True, slots=True)
class Claim:
    """A reward asking every budget that applies to it for money."""

    organization_id: uuid.UUID
    program_id: uuid.UUID
    reward_id: uuid.UUID
    amount: Money
    department: str | None = None
    on: date = field(default_factory=lambda: utcnow().date())
    """The day whose window the reward draws on: its creation day."""


Converter = Callable[[Money, str, date], Money | None]
"""Amount in another currency on a day, or None when no rate is known."""


@dataclass(slots=True)
class Outcome:
    granted: set[uuid.UUID] = field(default_factory=set)
    """Rewards holding their reservations now (made now or earlier)."""
    short: dict[uuid.UUID, str] = field(default_factory=dict)
    """Rewards that did not fit, with the budget that refused them."""


def _budgets_of(session: Session, organization_id: uuid.UUID) -> tuple[_Budget, ...]:
    """The organization's budget definitions (limits and scopes), read once per change."""

    def build() -> tuple[_Budget, ...]:
        rows = session.execute(_applicable(), {"_org": organization_id})
        return tuple(_Budget(*row) for row in rows)

    return revision.shared(session, organization_id, "budgets", build)


def _applies(budget: _Budget, claim: Claim) -> bool:
    return (budget.program_id is None or budget.program_id == claim.program_id) and (
        budget.department is None or budget.department == claim.department
    )


def _same_currency(amount: Money, currency: str, on: date) -> Money | None:
    return amount if amount.currency == currency else None


def reserve_many(
    session: Session, claims: Sequence[Claim], convert: Converter = _same_currency
) -> Outcome:
    """Reserve money for rewards in order, as if one after the other. A reward without an
    applicable budget always passes; a reward that does not fit every applicable budget gets
    nothing, and a later, smaller one may still fit. ``convert`` gives a reward's amount in a
    budget kept in another currency (None: that budget cannot take it)."""
    outcome = Outcome()
    if not claims:
        return outcome
    existing: dict[tuple[uuid.UUID, uuid.UUID], tuple[uuid.UUID, str]] = {}
    new = gates.new_rewards(session)  # cannot hold a reservation yet
    for part in chunks([c.reward_id for c in claims if c.reward_id not in new]):
        for row in session.execute(_reservations(), {"_ids": part}):
            existing[(row[0], row[1])] = (row[2], row[3])
    outcome.granted = {
        reward for (reward, _), (_, state) in existing.items() if state != ReservationState.released
    }
    todo = [c for c in claims if c.reward_id not in outcome.granted]
    if not todo:
        return outcome
    budgets: dict[uuid.UUID, list[_Budget]] = {}
    for organization_id in sorted({c.organization_id for c in todo}):
        programs = {c.program_id for c in todo if c.organization_id == organization_id}
        budgets[organization_id] = [
            b
            for b in _budgets_of(session, organization_id)
            if b.program_id is None or b.program_id in programs
        ]
    plan: list[tuple[Claim, list[tuple[_Budget, date]]]] = []
    wanted: set[tuple[uuid.UUID, date, date | None]] = set()
    for claim in todo:
        applying = [b for b in budgets.get(claim.organization_id, []) if _applies(b, claim)]
        windows_of = [(b, window_of(b.period, claim.on)) for b in applying]
        wanted.update((b.id, start, end) for b, (start, end) in windows_of)
        plan.append((claim, [(b, start) for b, (start, _) in windows_of]))
    owners = {b.id: org for org, bs in budgets.items() for b in bs}
    windows = _lock(session, owners, wanted)
    now = utcnow()
    taken: list[tuple[Claim, list[tuple[_Budget, _Window, int]]]] = []
    for claim, spans in plan:
        parts: list[tuple[_Budget, _Window, int]] = []
        refusal = None
        for budget, start in spans:
            window = windows[(budget.id, start)]
            amount = convert(claim.amount, budget.currency, claim.on)
            if amount is None:
                refusal = f"no exchange rate from {claim.amount.currency} to {budget.currency}"
                break
            left = budget.limit_minor - window.reserved_minor - window.spent_minor - window.taken
            if amount.minor > left:
                refusal = _describe(budget, start)
                break
            parts.append((budget, window, amount.minor))
        if refusal is not None:
            outcome.short[claim.reward_id] = refusal
            continue
        for _, window, minor in parts:
            window.taken += minor
        taken.append((claim, parts))
    limits = {b.id: b.limit_minor for bs in budgets.values() for b in bs}
    refused: set[uuid.UUID] = set()
    for window in windows.values():
        if window.taken:
            moved = session.scalar(
                _reserve(),
                {
                    "_id": window.id,
                    "_limit": limits[window.budget_id],
                    "_total": window.taken,
                    "_now": now,
                },
            )
            if moved is None:  # cannot happen under the row lock; hold rather than overspend
                refused.add(window.id)
    if refused:  # pragma: no cover - defensive
        raise Conflict("a budget changed under its row lock; try again")
    for claim, _ in taken:
        outcome.granted.add(claim.reward_id)
    _record(session, taken, existing, now)
    return outcome


def _record(
    session: Session,
    taken: list[tuple[Claim, list[tuple[_Budget, _Window, int]]]],
    existing: dict[tuple[uuid.UUID, uuid.UUID], tuple[uuid.UUID, str]],
    now: datetime,
) -> None:
    """One INSERT for the new reservations, one UPDATE for those renewed."""
    inserts: list[dict[str, object]] = []
    renewals: list[dict[str, object]] = []
    for claim, parts in taken:
        for budget, window, minor in parts:
            before = existing.get((claim.reward_id, budget.id))
            if before is not None:
                # A retried reward reserves again through the row its first attempt released.
                renewals.append({"_id": before[0], "_amount": minor, "_window": window.id})
            else:
                inserts.append(
                    {
                        "id": uuid7(),
                        "organization_id": claim.organization_id,
                        "budget_id": budget.id,
                        "window_id": window.id,
                        "reward_id": claim.reward_id,
                        "amount_minor": minor,
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
                state=ReservationState.reserved,
                amount_minor=bindparam("_amount"),
                window_id=bindparam("_window"),
                updated_at=now,
            ),
            renewals,
        )


def _describe(budget: _Budget, start: date) -> str:
    what = "the program's budget" if budget.program_id else "the organization's budget"
    if budget.department:
        what = f"{what} for department {budget.department}"
    if budget.period != Period.total:
        what = f"{what} ({budget.period} from {start.isoformat()})"
    return f"{what} does not cover this reward"


def _lock(
    session: Session,
    owners: dict[uuid.UUID, uuid.UUID],
    wanted: set[tuple[uuid.UUID, date, date | None]],
) -> dict[tuple[uuid.UUID, date], _Window]:
    """The windows the claims need, created if missing, then locked in id order."""
    if not wanted:
        return {}
    budget_ids = sorted({b for b, _, _ in wanted})
    found = _read_windows(session, budget_ids)
    missing = sorted(w for w in wanted if (w[0], w[1]) not in found)
    if missing:
        now = utcnow()
        # Sorted, so two transactions creating the same windows wait in the same order.
        insert_rows(
            session,
            _WINDOWS,
            [
                {
                    "id": uuid7(),
                    "organization_id": owners[budget_id],
                    "created_at": now,
                    "budget_id": budget_id,
                    "starts_on": start,
                    "ends_on": end,
                    "reserved_minor": 0,
                    "spent_minor": 0,
                    "updated_at": now,
                }
                for budget_id, start, end in missing
            ],
            ("budget_id", "starts_on"),
        )
        found = _read_windows(session, budget_ids)
    return found


def _read_windows(
    session: Session, budget_ids: list[uuid.UUID]
) -> dict[tuple[uuid.UUID, date], _Window]:
    found: dict[tuple[uuid.UUID, date], _Window] = {}
    for part in chunks(budget_ids):
        for row in session.execute(_lock_windows(), {"_budgets": part}):
            window = _Window(*row)
            found[(window.budget_id, window.starts_on)] = window
    return found


# ---------------------------------------------------------------- settling


def _settle(session: Session, reward_id: uuid.UUID, to: ReservationState) -> None:
    reservations = session.scalars(
        select(BudgetReservation)
        .where(
            BudgetReservation.reward_id == reward_id,
            BudgetReservation.state == ReservationState.reserved,
        )
        .order_by(BudgetReservation.window_id)
        .with_for_update()
    ).all()
    now = utcnow()
    for reservation in reservations:
        amount = reservation.amount_minor
        values = (
            {
                "reserved_minor": BudgetWindow.reserved_minor - amount,
                "spent_minor": BudgetWindow.spent_minor + amount,
            }
            if to is ReservationState.spent
            else {"reserved_minor": BudgetWindow.reserved_minor - amount}
        )
        session.execute(
            update(BudgetWindow)
            .where(BudgetWindow.id == reservation.window_id)
            .values(**values, updated_at=now)
        )
        reservation.state = to
        reservation.updated_at = now


def spend(session: Session, reward_id: uuid.UUID) -> None:
    """The reward was delivered: its reservations become spending."""
    _settle(session, reward_id, ReservationState.spent)


def release(session: Session, reward_id: uuid.UUID) -> None:
    """The reward will not be paid: its reservations return to their budgets."""
    _settle(session, reward_id, ReservationState.released)
