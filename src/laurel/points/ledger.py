"""The double-entry points ledger: the only code that writes entries, balances and lots.

Every movement is :func:`post`: one transaction row (unique per organization, mode and key, so
a replay answers the first posting), its entries (summing to zero), the accounts' maintained
balances and the learner's lots, all in the caller's unit of work.

Concurrency: a wallet only shrinks through ``UPDATE ... WHERE balance + amount >= 0``, which on
PostgreSQL locks the wallet row until commit, so two redemptions by one learner run one after
the other and the second sees the first's balance; a CHECK constraint refuses a negative wallet
whatever the code does. Accounts are updated in id order, so postings never deadlock each other.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.kit.clock import utcnow
from laurel.kit.errors import Conflict, NotFound
from laurel.kit.ids import uuid7
from laurel.kit.pagination import Page, paginate
from laurel.kit.sql import insert_ignore
from laurel.points.models import (
    EARNING_KINDS,
    AccountKind,
    BadgeAward,
    ExpiryNotice,
    LearnerPreference,
    PointsAccount,
    PointsEntry,
    PointsGrant,
    PointsLot,
    PointsPeriodTotal,
    PointsTransaction,
    StreakState,
    TransactionKind,
)

NO_PROGRAM = uuid.UUID(int=0)
"""Stands for 'no program' in period totals (grants), so their unique key has no NULL."""
ALL_PROGRAMS = uuid.UUID(int=1)
"""Period totals across every program: what the organization and department boards read."""

_ACCOUNTS: Table = PointsAccount.__table__  # type: ignore[assignment]
_ENTRIES: Table = PointsEntry.__table__  # type: ignore[assignment]
_LOTS: Table = PointsLot.__table__  # type: ignore[assignment]
_TOTALS: Table = PointsPeriodTotal.__table__  # type: ignore[assignment]
_TRANSACTIONS: Table = PointsTransaction.__table__  # type: ignore[assignment]


class InsufficientPoints(Conflict):
    code = "insufficient_points"


class TransactionKeyConflict(Conflict):
    code = "transaction_key_conflict"


class TransactionNotFound(NotFound):
    code = "points_transaction_not_found"


class UnbalancedTransaction(ValueError):
    """A programming error: the legs of a posting do not sum to zero."""


@dataclass(frozen=True, slots=True)
class Account:
    kind: AccountKind
    learner_id: uuid.UUID | None = None
    program_id: uuid.UUID | None = None

    @property
    def key(self) -> str:
        if self.kind is AccountKind.wallet:
            return f"wallet:{self.learner_id}"
        if self.kind is AccountKind.liability:
            return f"liability:{self.program_id or NO_PROGRAM}"
        return str(self.kind)


def wallet(learner_id: uuid.UUID) -> Account:
    return Account(AccountKind.wallet, learner_id=learner_id)


def liability(program_id: uuid.UUID | None) -> Account:
    return Account(AccountKind.liability, program_id=program_id)


REDEMPTION = Account(AccountKind.redemption)
EXPIRY = Account(AccountKind.expiry)
ADJUSTMENT = Account(AccountKind.adjustment)


@dataclass(frozen=True, slots=True)
class Posting:
    transaction: PointsTransaction
    replayed: bool


@dataclass(frozen=True, slots=True)
class Scope:
    organization_id: uuid.UUID
    livemode: bool


def post(
    session: Session,
    scope: Scope,
    *,
    key: str,
    kind: TransactionKind,
    legs: Sequence[tuple[Account, int]],
    actor: str,
    program_id: uuid.UUID | None = None,
    reward_id: uuid.UUID | None = None,
    reverses_id: uuid.UUID | None = None,
    memo: str = "",
    details: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
    expires_at: datetime | None = None,
    take_first: Sequence[uuid.UUID] = (),
) -> Posting:
    """Book one balanced transaction; a repeat of ``key`` answers the first one.

    ``legs`` are (account, points gained); they must sum to zero, with at most one wallet.
    Points entering a wallet form a lot expiring at ``expires_at``; points leaving it come out
    of the lots in ``take_first`` first, then first-expiring first. Raises InsufficientPoints
    when the wallet holds fewer points than asked; nothing of the posting is left behind (it
    runs in a savepoint), so the caller may go on with other work.
    """
    with session.begin_nested():
        return _post(
            session,
            scope,
            key=key,
            kind=kind,
            legs=legs,
            actor=actor,
            program_id=program_id,
            reward_id=reward_id,
            reverses_id=reverses_id,
            memo=memo,
            details=details,
            occurred_at=occurred_at,
            expires_at=expires_at,
            take_first=take_first,
        )


def _post(
    session: Session,
    scope: Scope,
    *,
    key: str,
    kind: TransactionKind,
    legs: Sequence[tuple[Account, int]],
    actor: str,
    program_id: uuid.UUID | None,
    reward_id: uuid.UUID | None,
    reverses_id: uuid.UUID | None,
    memo: str,
    details: dict[str, Any] | None,
    occurred_at: datetime | None,
    expires_at: datetime | None,
    take_first: Sequence[uuid.UUID],
) -> Posting:
    legs = [(account, amount) for account, amount in legs if amount != 0]
    if any(isinstance(a, bool) or not isinstance(a, int) for _, a in legs):
        raise UnbalancedTransaction("points are whole numbers")
    if sum(amount for _, amount in legs) != 0:
        raise UnbalancedTransaction(f"legs of {key!r} sum to {sum(a for _, a in legs)}, not 0")
    wallets = [(a, n) for a, n in legs if a.kind is AccountKind.wallet]
    if len(wallets) > 1:
        raise UnbalancedTransaction("one wallet per transaction")
    learner_id = wallets[0][0].learner_id if wallets else None
    points = wallets[0][1] if wallets else 0
    now = utcnow()
    occurred = occurred_at or now
    row: dict[str, Any] = {
        "id": uuid7(),
        "organization_id": scope.organization_id,
        "livemode": scope.livemode,
        "key": key,
        "kind": kind,
        "learner_id": learner_id,
        "program_id": program_id,
        "reward_id": reward_id,
        "reverses_id": reverses_id,
        "points": points,
        "memo": memo,
        "details": details or {},
        "actor": actor,
        "occurred_at": occurred,
        "created_at": now,
    }
    if not insert_ignore(session, _TRANSACTIONS, row, ["organization_id", "livemode", "key"]):
        first = _by_key(session, scope, key)
        if first.kind != kind or first.points != points or first.learner_id != learner_id:
            raise TransactionKeyConflict(
                f"transaction key {key!r} was already used for another movement ({first.id})"
            )
        return Posting(first, True)
    ids = _account_ids(session, scope, [account for account, _ in legs])
    for account, amount in sorted(legs, key=lambda leg: ids[leg[0].key]):
        if not _apply(session, ids[account.key], account, amount, now):
            raise InsufficientPoints(
                f"the wallet holds fewer than {-amount} points (transaction {key!r})"
            )
    if legs:
        session.execute(
            _ENTRIES.insert(),
            [
                {
                    "id": uuid7(),
                    "organization_id": scope.organization_id,
                    "transaction_id": row["id"],
                    "account_id": ids[account.key],
                    "amount": amount,
                    "created_at": now,
                }
                for account, amount in legs
            ],
        )
    if learner_id is not None and points > 0:
        session.execute(
            _LOTS.insert().values(
                id=uuid7(),
                organization_id=scope.organization_id,
                livemode=scope.livemode,
                learner_id=learner_id,
                program_id=program_id,
                transaction_id=row["id"],
                points=points,
                remaining=points,
                earned_at=occurred,
                expires_at=expires_at,
                created_at=now,
            )
        )
    elif learner_id is not None and points < 0:
        used = _take_lots(session, scope, learner_id, -points, take_first)
        row["details"] = {**row["details"], "lots": [[str(i), n] for i, n in used]}
        session.execute(
            update(_TRANSACTIONS)
            .where(_TRANSACTIONS.c.id == row["id"])
            .values(details=row["details"])
        )
    if learner_id is not None and kind in EARNING_KINDS:
        _add_total(session, scope, learner_id, program_id, occurred, points)
    audit.record(
        session,
        organization_id=scope.organization_id,
        actor=actor,
        action=f"points:transaction:{kind}",
        target_type="points_transaction",
        target_id=row["id"],
        details={
            "key": key,
            "livemode": scope.livemode,
            "learner_id": str(learner_id) if learner_id else None,
            "points": points,
            "legs": [[a.key, n] for a, n in legs],
            "memo": memo,
        },
    )
    transaction = session.get(PointsTransaction, row["id"])
    assert transaction is not None  # just inserted in this transaction
    return Posting(transaction, False)


def _by_key(session: Session, scope: Scope, key: str) -> PointsTransaction:
    return session.scalars(
        select(PointsTransaction).where(
            PointsTransaction.organization_id == scope.organization_id,
            PointsTransaction.livemode == scope.livemode,
            PointsTransaction.key == key,
        )
    ).one()


def _account_ids(
    session: Session, scope: Scope, accounts: Sequence[Account]
) -> dict[str, uuid.UUID]:
    wanted = {a.key: a for a in accounts}
    if not wanted:
        return {}
    found = _find_accounts(session, scope, list(wanted))
    for key, account in wanted.items():
        if key in found:
            continue
        now = utcnow()
        insert_ignore(
            session,
            _ACCOUNTS,
            {
                "id": uuid7(),
                "organization_id": scope.organization_id,
                "livemode": scope.livemode,
                "key": key,
                "kind": account.kind,
                "learner_id": account.learner_id,
                "program_id": account.program_id,
                "balance": 0,
                "created_at": now,
                "updated_at": now,
            },
            ["organization_id", "livemode", "key"],
        )
    if len(found) < len(wanted):
        found = _find_accounts(session, scope, list(wanted))
    return found


def _find_accounts(session: Session, scope: Scope, keys: list[str]) -> dict[str, uuid.UUID]:
    rows = session.execute(
        select(_ACCOUNTS.c.key, _ACCOUNTS.c.id).where(
            _ACCOUNTS.c.organization_id == scope.organization_id,
            _ACCOUNTS.c.livemode == scope.livemode,
            _ACCOUNTS.c.key.in_(keys),
        )
    )
    return {row[0]: row[1] for row in rows}


@cache
def _guarded_sql() -> Any:
    return (
        update(_ACCOUNTS)
        .where(
            _ACCOUNTS.c.id == bindparam("_id"),
            _ACCOUNTS.c.balance + bindparam("_amount") >= 0,
        )
        .values(balance=_ACCOUNTS.c.balance + bindparam("_amount"), updated_at=bindparam("_now"))
        .returning(_ACCOUNTS.c.id)
    )


@cache
def _plain_sql() -> Any:
    return (
        update(_ACCOUNTS)
        .where(_ACCOUNTS.c.id == bindparam("_id"))
        .values(balance=_ACCOUNTS.c.balance + bindparam("_amount"), updated_at=bindparam("_now"))
        .returning(_ACCOUNTS.c.id)
    )


def _apply(
    session: Session, account_id: uuid.UUID, account: Account, amount: int, now: datetime
) -> bool:
    guarded = account.kind is AccountKind.wallet and amount < 0
    stmt = _guarded_sql() if guarded else _plain_sql()
    params = {"_id": account_id, "_amount": amount, "_now": now}
    return session.execute(stmt, params).first() is not None


def _take_lots(
    session: Session,
    scope: Scope,
    learner_id: uuid.UUID,
    points: int,
    take_first: Sequence[uuid.UUID],
) -> list[tuple[uuid.UUID, int]]:
    """Take ``points`` out of the learner's lots: the named ones first, then soonest-expiring.

    The wallet row is already locked by this transaction, so no one else takes from these lots
    until it commits.
    """
    lots = list(
        session.execute(
            select(_LOTS.c.id, _LOTS.c.remaining, _LOTS.c.expires_at, _LOTS.c.earned_at).where(
                _LOTS.c.organization_id == scope.organization_id,
                _LOTS.c.livemode == scope.livemode,
                _LOTS.c.learner_id == learner_id,
                _LOTS.c.remaining > 0,
            )
        )
    )
    first = {lot_id: n for n, lot_id in enumerate(take_first)}
    far = datetime.max.replace(tzinfo=utcnow().tzinfo)
    lots.sort(
        key=lambda lot: (
            first.get(lot.id, len(first)),
            lot.expires_at or far,
            lot.earned_at,
            lot.id,
        )
    )
    used: list[tuple[uuid.UUID, int]] = []
    left = points
    for lot in lots:
        if left == 0:
            break
        take = min(left, lot.remaining)
        used.append((lot.id, take))
        left -= take
    if left:
        # The wallet balance and the lots disagree: reconcile reports it; refuse the posting.
        raise InsufficientPoints(f"the learner's lots hold {points - left} of {points} points")
    for lot_id, take in used:
        session.execute(
            update(_LOTS).where(_LOTS.c.id == lot_id).values(remaining=_LOTS.c.remaining - take)
        )
    return used


def periods_of(when: datetime) -> tuple[str, str, str]:
    """The year, quarter and month keys of an activity time: ``2026``, ``2026-Q4``,
    ``2026-11``."""
    quarter = (when.month - 1) // 3 + 1
    return f"{when.year:04d}", f"{when.year:04d}-Q{quarter}", f"{when.year:04d}-{when.month:02d}"


def _add_total(
    session: Session,
    scope: Scope,
    learner_id: uuid.UUID,
    program_id: uuid.UUID | None,
    occurred: datetime,
    points: int,
) -> None:
    """Add ``points`` to the learner's totals for the activity's year, quarter and month, per
    program and across programs: one INSERT ... ON CONFLICT DO UPDATE run for six rows."""
    now = utcnow()
    rows = [
        {
            "id": uuid7(),
            "organization_id": scope.organization_id,
            "livemode": scope.livemode,
            "period": period,
            "learner_id": learner_id,
            "program_id": program,
            "earned": points,
            "created_at": now,
        }
        for period in periods_of(occurred.astimezone(UTC))
        for program in (program_id or NO_PROGRAM, ALL_PROGRAMS)
    ]
    session.execute(_totals_upsert(session.get_bind().dialect.name), rows)


@cache
def _totals_upsert(dialect: str) -> Any:
    # Built once and run with a list of rows: a statement with the rows inlined as VALUES is
    # compiled anew on every call, which cost more than the write itself (bench.latency).
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(_TOTALS)
    return stmt.on_conflict_do_update(
        index_elements=["organization_id", "livemode", "period", "learner_id", "program_id"],
        set_={"earned": _TOTALS.c.earned + stmt.excluded.earned},
    )


# ---------------------------------------------------------------- corrections


def reverse(
    session: Session, scope: Scope, transaction_id: uuid.UUID, *, actor: str, reason: str
) -> Posting:
    """Undo a transaction with a new one that moves every entry back (idempotent per original).

    Reversing points the learner has already spent is refused (InsufficientPoints): the wallet
    never goes negative; an admin grants a correction instead.
    """
    original = get_transaction(session, scope, transaction_id)
    if original.kind in {TransactionKind.reversal, TransactionKind.refund}:
        raise Conflict(f"a {original.kind} is not reversed; post a new movement instead")
    legs = [
        (_account_of(session, account_id), -amount)
        for account_id, amount in session.execute(
            select(_ENTRIES.c.account_id, _ENTRIES.c.amount).where(
                _ENTRIES.c.transaction_id == original.id
            )
        )
    ]
    lots = list(session.scalars(select(_LOTS.c.id).where(_LOTS.c.transaction_id == original.id)))
    posting = post(
        session,
        scope,
        key=f"reverse:{original.id}",
        kind=TransactionKind.reversal,
        legs=legs,
        actor=actor,
        program_id=original.program_id,
        reward_id=original.reward_id,
        reverses_id=original.id,
        memo=reason,
        details={"reverses": str(original.id), "kind": original.kind},
        occurred_at=original.occurred_at,
        take_first=lots,
        expires_at=lots_expiry(session, original),
    )
    if not posting.replayed and original.kind in EARNING_KINDS and original.learner_id:
        # Leaderboards and caps count net earnings: the reversal takes them back in the month
        # they were earned.
        _add_total(
            session,
            scope,
            original.learner_id,
            original.program_id,
            original.occurred_at,
            -original.points,
        )
    return posting


def lots_expiry(session: Session, spent: PointsTransaction) -> datetime | None:
    """When points given back for ``spent`` expire: as the soonest of the lots they came from
    (None when any of them never expires or none is recorded)."""
    used = [uuid.UUID(lot_id) for lot_id, _ in spent.details.get("lots", [])]
    if not used:
        return None
    ends: list[datetime | None] = list(
        session.scalars(select(PointsLot.expires_at).where(PointsLot.id.in_(used)))
    )
    known = [end for end in ends if end is not None]
    if not ends or len(known) < len(ends):
        return None
    return min(known)


def _account_of(session: Session, account_id: uuid.UUID) -> Account:
    row = session.execute(
        select(_ACCOUNTS.c.kind, _ACCOUNTS.c.learner_id, _ACCOUNTS.c.program_id).where(
            _ACCOUNTS.c.id == account_id
        )
    ).one()
    return Account(AccountKind(row.kind), learner_id=row.learner_id, program_id=row.program_id)


# ---------------------------------------------------------------- reading


def hold_wallet(session: Session, scope: Scope, learner_id: uuid.UUID) -> None:
    """Create the learner's wallet if needed and hold its row until commit: decisions that read
    what the learner earned (caps, streaks) then run one at a time per learner."""
    _account_ids(session, scope, [wallet(learner_id)])
    lock_wallet(session, scope, learner_id)


def lock_wallet(session: Session, scope: Scope, learner_id: uuid.UUID) -> None:
    """Hold the learner's wallet row until commit (PostgreSQL; SQLite has one writer)."""
    if session.get_bind().dialect.name != "postgresql":
        return  # the transaction already holds SQLite's one write lock
    query = select(_ACCOUNTS.c.id).where(
        _ACCOUNTS.c.organization_id == scope.organization_id,
        _ACCOUNTS.c.livemode == scope.livemode,
        _ACCOUNTS.c.key == wallet(learner_id).key,
    )
    session.execute(query.with_for_update())


def has_entries(session: Session, organization_id: uuid.UUID, learner_id: uuid.UUID) -> bool:
    """Whether the learner has a points account in either mode (then the ledger refers to
    them, and the learner row must stay)."""
    for model in (PointsAccount, PointsGrant):
        found = session.scalar(
            select(model.id)
            .where(model.organization_id == organization_id, model.learner_id == learner_id)
            .limit(1)
        )
        if found is not None:
            return True
    return False


def forget(session: Session, organization_id: uuid.UUID, learner_id: uuid.UUID) -> None:
    """Delete a learner's points rows that are not bookkeeping (preferences, streaks, badge
    awards, expiry notices, period totals): before the learner row itself is deleted. Only
    for a learner without ledger entries (:func:`has_entries`)."""
    for model in (LearnerPreference, StreakState, BadgeAward, ExpiryNotice, PointsPeriodTotal):
        session.execute(
            delete(model).where(
                model.organization_id == organization_id, model.learner_id == learner_id
            )
        )


def balance(session: Session, scope: Scope, learner_id: uuid.UUID) -> int:
    """The wallet's points (0 for a learner who never had any): one primary-key-like read."""
    found = session.scalar(
        select(_ACCOUNTS.c.balance).where(
            _ACCOUNTS.c.organization_id == scope.organization_id,
            _ACCOUNTS.c.livemode == scope.livemode,
            _ACCOUNTS.c.key == wallet(learner_id).key,
        )
    )
    return int(found or 0)


def get_transaction(session: Session, scope: Scope, transaction_id: uuid.UUID) -> PointsTransaction:
    found = session.scalar(
        select(PointsTransaction).where(
            PointsTransaction.organization_id == scope.organization_id,
            PointsTransaction.livemode == scope.livemode,
            PointsTransaction.id == transaction_id,
        )
    )
    if found is None:
        raise TransactionNotFound(f"no points transaction {transaction_id}")
    return found


def history(
    session: Session,
    scope: Scope,
    learner_id: uuid.UUID,
    *,
    limit: int,
    cursor: uuid.UUID | None,
) -> Page[PointsTransaction]:
    query = select(PointsTransaction).where(
        PointsTransaction.organization_id == scope.organization_id,
        PointsTransaction.livemode == scope.livemode,
        PointsTransaction.learner_id == learner_id,
    )
    return paginate(session, query, PointsTransaction.id, limit=limit, cursor=cursor)


def earned_between(
    session: Session,
    scope: Scope,
    learner_id: uuid.UUID,
    program_id: uuid.UUID | None,
    start: datetime,
    end: datetime,
) -> int:
    """Net points earned (earn, bonus, grant minus their reversals) by activity time."""
    earned = session.scalar(
        select(func.coalesce(func.sum(PointsTransaction.points), 0)).where(
            PointsTransaction.organization_id == scope.organization_id,
            PointsTransaction.livemode == scope.livemode,
            PointsTransaction.learner_id == learner_id,
            PointsTransaction.program_id == program_id,
            PointsTransaction.kind.in_([*EARNING_KINDS, TransactionKind.reversal]),
            PointsTransaction.occurred_at >= start,
            PointsTransaction.occurred_at < end,
        )
    )
    return int(earned or 0)


@dataclass(frozen=True, slots=True)
class Reconciliation:
    transactions: int
    entries: int
    unbalanced: list[uuid.UUID]
    """Transactions whose entries do not sum to zero."""
    drifted: list[tuple[uuid.UUID, int, int]]
    """Accounts whose kept balance differs from their entries: (id, balance, sum)."""
    negative_wallets: list[uuid.UUID]
    lot_mismatches: list[tuple[uuid.UUID, int, int]]
    """Learners whose lots' remaining points differ from the wallet: (learner, wallet, lots)."""
    total: int
    """The sum of every entry: zero in balanced books."""

    @property
    def ok(self) -> bool:
        return not (
            self.unbalanced
            or self.drifted
            or self.negative_wallets
            or self.lot_mismatches
            or self.total
        )


def reconcile(session: Session, organization_id: uuid.UUID) -> Reconciliation:
    """Prove the books: every transaction balances, every kept balance equals its entries,
    no wallet is negative, and each learner's lots hold exactly the wallet's points."""
    org = organization_id
    unbalanced = list(
        session.scalars(
            select(_ENTRIES.c.transaction_id)
            .where(_ENTRIES.c.organization_id == org)
            .group_by(_ENTRIES.c.transaction_id)
            .having(func.sum(_ENTRIES.c.amount) != 0)
        )
    )
    sums = (
        select(_ENTRIES.c.account_id, func.sum(_ENTRIES.c.amount).label("total"))
        .where(_ENTRIES.c.organization_id == org)
        .group_by(_ENTRIES.c.account_id)
        .subquery()
    )
    drifted = [
        (row.id, row.balance, int(row.total))
        for row in session.execute(
            select(
                _ACCOUNTS.c.id, _ACCOUNTS.c.balance, func.coalesce(sums.c.total, 0).label("total")
            )
            .select_from(_ACCOUNTS.outerjoin(sums, sums.c.account_id == _ACCOUNTS.c.id))
            .where(_ACCOUNTS.c.organization_id == org)
        )
        if row.balance != int(row.total)
    ]
    negative = list(
        session.scalars(
            select(_ACCOUNTS.c.id).where(
                _ACCOUNTS.c.organization_id == org,
                _ACCOUNTS.c.kind == AccountKind.wallet,
                _ACCOUNTS.c.balance < 0,
            )
        )
    )
    lots = {
        (row.livemode, row.learner_id): int(row.remaining)
        for row in session.execute(
            select(
                _LOTS.c.livemode, _LOTS.c.learner_id, func.sum(_LOTS.c.remaining).label("remaining")
            )
            .where(_LOTS.c.organization_id == org)
            .group_by(_LOTS.c.livemode, _LOTS.c.learner_id)
        )
    }
    wallets = {
        (row.livemode, row.learner_id): row.balance
        for row in session.execute(
            select(_ACCOUNTS.c.livemode, _ACCOUNTS.c.learner_id, _ACCOUNTS.c.balance).where(
                _ACCOUNTS.c.organization_id == org, _ACCOUNTS.c.kind == AccountKind.wallet
            )
        )
    }
    mismatches = [
        (learner, wallets.get((live, learner), 0), lots.get((live, learner), 0))
        for live, learner in sorted(set(lots) | set(wallets), key=str)
        if wallets.get((live, learner), 0) != lots.get((live, learner), 0)
    ]
    total = session.scalar(
        select(func.coalesce(func.sum(_ENTRIES.c.amount), 0)).where(
            _ENTRIES.c.organization_id == org
        )
    )
    counts = session.execute(
        select(func.count(func.distinct(_ENTRIES.c.transaction_id)), func.count()).where(
            _ENTRIES.c.organization_id == org
        )
    ).one()
    return Reconciliation(
        transactions=int(counts[0]),
        entries=int(counts[1]),
        unbalanced=unbalanced,
        drifted=drifted,
        negative_wallets=negative,
        lot_mismatches=mismatches,
        total=int(total or 0),
    )


def expiring(
    session: Session, scope: Scope, learner_id: uuid.UUID, limit: int = 5
) -> list[tuple[int, datetime]]:
    """(points, expires_at) of the learner's lots that have an end, soonest first."""
    rows = session.execute(
        select(_LOTS.c.remaining, _LOTS.c.expires_at)
        .where(
            _LOTS.c.organization_id == scope.organization_id,
            _LOTS.c.livemode == scope.livemode,
            _LOTS.c.learner_id == learner_id,
            _LOTS.c.remaining > 0,
            _LOTS.c.expires_at.is_not(None),
        )
        .order_by(_LOTS.c.expires_at)
        .limit(limit)
    )
    return [(int(r[0]), r[1]) for r in rows]
