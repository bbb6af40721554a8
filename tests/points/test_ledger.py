"""The points ledger on real SQLite and PostgreSQL: balanced, idempotent, never overdrawn."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from laurel.db import Database
from laurel.kit.clock import utcnow
from laurel.kit.errors import Conflict
from laurel.points import expiry, ledger
from laurel.points.ledger import InsufficientPoints, Scope, TransactionKeyConflict
from laurel.points.models import PointsEntry, PointsLot, TransactionKind
from tests.conftest import Tenant, make_tenant
from tests.points.support import learners, program, scope


def _earn(
    session: Session,
    sc: Scope,
    learner: uuid.UUID,
    prog: uuid.UUID,
    points: int,
    key: str,
    expires_at: datetime | None = None,
) -> ledger.Posting:
    return ledger.post(
        session,
        sc,
        key=key,
        kind=TransactionKind.earn,
        legs=[(ledger.liability(prog), -points), (ledger.wallet(learner), points)],
        actor="test",
        program_id=prog,
        expires_at=expires_at,
    )


def _redeem(
    session: Session, sc: Scope, learner: uuid.UUID, points: int, key: str
) -> ledger.Posting:
    return ledger.post(
        session,
        sc,
        key=key,
        kind=TransactionKind.redeem,
        legs=[(ledger.wallet(learner), -points), (ledger.REDEMPTION, points)],
        actor="test",
    )


def test_earn_spend_and_replay(database: Database, tenant: Tenant) -> None:
    (ana,) = learners(database, tenant, 1)
    prog = program(database, tenant)
    sc = scope(tenant)
    with database.session() as session:
        first = _earn(session, sc, ana, prog, 120, "earn:1")
        again = _earn(session, sc, ana, prog, 120, "earn:1")
        assert not first.replayed
        assert again.replayed
        assert again.transaction.id == first.transaction.id
        _redeem(session, sc, ana, 50, "redeem:1")
        assert ledger.balance(session, sc, ana) == 70
    with database.session() as session:
        with pytest.raises(TransactionKeyConflict):
            _earn(session, sc, ana, prog, 999, "earn:1")
        with pytest.raises(InsufficientPoints):
            _redeem(session, sc, ana, 71, "redeem:2")
        # The refused posting left nothing behind (savepoint), the unit of work goes on.
        _redeem(session, sc, ana, 70, "redeem:3")
        assert ledger.balance(session, sc, ana) == 0
        # Test-mode points are a separate ledger.
        assert ledger.balance(session, Scope(tenant.id, False), ana) == 0
    with database.session() as session:
        check = ledger.reconcile(session, tenant.id)
        assert check.ok, check
        assert check.transactions == 3
        assert check.entries == 6


def test_entries_are_immutable(database: Database, tenant: Tenant) -> None:
    (ana,) = learners(database, tenant, 1)
    prog = program(database, tenant)
    with database.session() as session:
        _earn(session, scope(tenant), ana, prog, 10, "earn:1")
    for statement in ("UPDATE points_entries SET amount = 1000", "DELETE FROM points_entries"):
        with pytest.raises(DBAPIError, match="immutable"), database.session() as session:
            session.execute(text(statement))
    with database.session() as session:
        assert sorted(e.amount for e in session.scalars(select(PointsEntry))) == [-10, 10]


def test_wallet_cannot_go_negative_even_by_sql(database: Database, tenant: Tenant) -> None:
    (ana,) = learners(database, tenant, 1)
    prog = program(database, tenant)
    with database.session() as session:
        _earn(session, scope(tenant), ana, prog, 10, "earn:1")
    with pytest.raises(IntegrityError), database.session() as session:
        session.execute(text("UPDATE points_accounts SET balance = -1 WHERE kind = 'wallet'"))


def test_reversal_and_refund_restore_the_books(database: Database, tenant: Tenant) -> None:
    ana, bo = learners(database, tenant, 2)
    prog = program(database, tenant)
    sc = scope(tenant)
    later = utcnow() + timedelta(days=400)
    with database.session() as session:
        earned = _earn(session, sc, ana, prog, 100, "earn:a", expires_at=later)
        spent = _redeem(session, sc, ana, 30, "redeem:a")
        # Reversing the earning would need 100 points; 70 are left: refused, nothing changes.
        with pytest.raises(InsufficientPoints):
            ledger.reverse(session, sc, earned.transaction.id, actor="test", reason="oops")
        back = ledger.reverse(session, sc, spent.transaction.id, actor="test", reason="returned")
        assert back.transaction.points == 30
        assert ledger.reverse(session, sc, spent.transaction.id, actor="t", reason="x").replayed
        # Given-back points expire when the lots they came from would have.
        lot = session.scalars(
            select(PointsLot).where(PointsLot.transaction_id == back.transaction.id)
        ).one()
        assert lot.expires_at == later
        gone = ledger.reverse(session, sc, earned.transaction.id, actor="test", reason="revoked")
        assert gone.transaction.points == -100
        assert ledger.balance(session, sc, ana) == 0
        _earn(session, sc, bo, prog, 5, "earn:b")
    with database.session() as session:
        assert ledger.reconcile(session, tenant.id).ok


def test_expiry_is_fifo_with_a_notice(database: Database, tenant: Tenant) -> None:
    (ana,) = learners(database, tenant, 1)
    prog = program(database, tenant)
    sc = scope(tenant)
    now = utcnow()
    with database.session() as session:
        _earn(session, sc, ana, prog, 40, "old", expires_at=now + timedelta(days=10))
        _earn(session, sc, ana, prog, 60, "new", expires_at=now + timedelta(days=100))
        # Spending takes the soonest-expiring points first.
        _redeem(session, sc, ana, 25, "spend")
    with database.session() as session:
        notices = expiry.record_notices(session, now=now)
        assert [(n.learner_id, n.points) for n in notices] == [(ana, 15)]
        assert expiry.record_notices(session, now=now) == []  # one notice per day and learner
        assert expiry.expire_due(session, now=now) == 0
    with database.session() as session:
        assert expiry.expire_due(session, now=now + timedelta(days=11)) == 1
        assert expiry.expire_due(session, now=now + timedelta(days=11)) == 0
        assert ledger.balance(session, sc, ana) == 60
        assert ledger.reconcile(session, tenant.id).ok


# ---------------------------------------------------------------- property: the books balance

_ops = st.lists(
    st.tuples(
        st.sampled_from(["earn", "grant", "redeem", "refund", "reverse", "expire"]),
        st.integers(min_value=0, max_value=2),  # learner
        st.integers(min_value=1, max_value=300),  # points
        st.integers(min_value=0, max_value=40),  # pick (a transaction to undo), or days ahead
    ),
    min_size=1,
    max_size=25,
)


def test_every_sequence_keeps_the_books_balanced(database: Database) -> None:
    """Any sequence of earns, grants, redemptions, refunds, reversals and expiries (including
    refused ones) leaves balanced books, kept balances equal to entries, no negative wallet,
    and lots that hold exactly each wallet's points."""
    counter = iter(range(10**6))

    @settings(
        max_examples=25 if database.is_sqlite else 10,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        database=None,
    )
    @given(_ops)
    def run(ops: list[tuple[str, int, int, int]]) -> None:
        tenant = make_tenant(database, f"prop{next(counter)}")
        people = learners(database, tenant, 3)
        prog = program(database, tenant)
        sc = scope(tenant)
        start = utcnow()
        booked: list[uuid.UUID] = []
        expected = dict.fromkeys(people, 0)
        with database.session() as session:
            for n, (op, who, points, pick) in enumerate(ops):
                learner = people[who]
                try:
                    if op == "earn":
                        p = _earn(
                            session,
                            sc,
                            learner,
                            prog,
                            points,
                            f"k{n}",
                            expires_at=start + timedelta(days=pick),
                        )
                    elif op == "grant":
                        p = ledger.post(
                            session,
                            sc,
                            key=f"k{n}",
                            kind=TransactionKind.grant,
                            legs=[(ledger.ADJUSTMENT, -points), (ledger.wallet(learner), points)],
                            actor="test",
                        )
                    elif op == "redeem":
                        p = _redeem(session, sc, learner, points, f"k{n}")
                    elif op in {"refund", "reverse"} and booked:
                        p = ledger.reverse(
                            session, sc, booked[pick % len(booked)], actor="t", reason=op
                        )
                    elif op == "expire":
                        expiry.expire_due(session, now=start + timedelta(days=pick))
                        continue
                    else:
                        continue
                except (InsufficientPoints, Conflict):
                    continue
                if not p.replayed:
                    booked.append(p.transaction.id)
                assert all(ledger.balance(session, sc, x) >= 0 for x in people)
            expected = {x: ledger.balance(session, sc, x) for x in people}
        with database.session() as session:
            check = ledger.reconcile(session, tenant.id)
            assert check.ok, check
            assert {x: ledger.balance(session, sc, x) for x in people} == expected

    run()


# ---------------------------------------------------------------- concurrency


def test_concurrent_redemptions_never_overdraw(database: Database, tenant: Tenant) -> None:
    """Eight clients, each with its own session and connection, redeem from one wallet at once."""
    if database.is_sqlite:
        pytest.skip("PostgreSQL: SQLite has one writer at a time by construction")
    (ana,) = learners(database, tenant, 1)
    prog = program(database, tenant)
    sc = scope(tenant)
    with database.session() as session:
        _earn(session, sc, ana, prog, 500, "seed")
    clients = 8
    barrier = threading.Barrier(clients)

    def redeem(n: int) -> str:
        barrier.wait(timeout=30)
        results = []
        for attempt in range(3):
            try:
                with database.session() as session:
                    _redeem(session, sc, ana, 70, f"race:{n}:{attempt}")
                results.append("ok")
            except InsufficientPoints:
                results.append("refused")
        return ",".join(results)

    with ThreadPoolExecutor(clients) as pool:
        outcomes = list(pool.map(redeem, range(clients)))
    spent = sum(o.split(",").count("ok") for o in outcomes)
    assert spent == 500 // 70  # 7 of 24 attempts fit; every other one was refused
    with database.session() as session:
        assert ledger.balance(session, sc, ana) == 500 - 70 * spent
        check = ledger.reconcile(session, tenant.id)
        assert check.ok, check
