"""Points at scale: 1,000,000 ledger entries, then wallet balances and leaderboards.

    python -m bench.points --entries 1000000 --learners 10000 --runs 200 --json

For each database (SQLite in a throw-away directory, PostgreSQL in a throw-away database on
127.0.0.1), the schema is migrated and the ledger is bulk-loaded: ``entries / 2`` earn
transactions (two entries each) spread over 2026, with their lots, the wallets' and programs'
kept balances and the period totals, exactly as postings would have left them (``reconcile``
proves it after the load). SQLite loads with the driver's ``executemany``, PostgreSQL with
``COPY``. Audit entries are not written by the bulk load.

Then each query runs ``--runs`` times, each in its own read unit of work like a request:

- ``baseline``: one learner by primary key;
- ``wallet``: ``ledger.balance`` for a random learner;
- ``board org year`` / ``board dept month`` / ``board program quarter``: the top 10 with the
  names shown (privacy applied) and the viewing learner's own place;
- ``post earn``: one posting and its commit (the write path, for information).

The target is p95 ≤ 50 ms for the wallet and the boards; ratios are p95 over the baseline's p95.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import Table, bindparam, select, text, update

from bench.harness import load_average, machine, summary_ms, table, throwaway, write_json
from laurel import migrate
from laurel.db import Database
from laurel.kit.ids import uuid7
from laurel.learners.models import Learner
from laurel.models import Program
from laurel.organizations import service as organizations
from laurel.points import leaderboards, ledger
from laurel.points.leaderboards import BoardScope
from laurel.points.models import (
    PointsAccount,
    PointsEntry,
    PointsLot,
    PointsPeriodTotal,
    PointsTransaction,
    TransactionKind,
)

DEPARTMENTS = 20
PROGRAMS = 3
COUNTRIES = ("US", "DE", "FR", "MX", "BR", "JP", "GB", "ES")
CHUNK = 20_000
TARGET_MS = 50.0


def _copy(db: Database, table_: Table, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    if db.dialect == "postgresql":
        raw = db.engine.raw_connection()
        try:
            conn = raw.driver_connection
            assert conn is not None
            with conn.cursor() as cur:
                names = ", ".join(columns)
                with cur.copy(f"COPY {table_.name} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(
                            [Jsonb(v) if isinstance(v, dict) else v for v in row.values()]
                        )
            conn.commit()
        finally:
            raw.close()
        return
    # SQLite: the driver's executemany on values already in SQLAlchemy's storage format (UUIDs
    # as 32 hex digits, naive UTC times, JSON text), several times faster than through Core.
    names = ", ".join(columns)
    marks = ", ".join("?" for _ in columns)
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("BEGIN")
        cursor.executemany(
            f"INSERT INTO {table_.name} ({names}) VALUES ({marks})",
            [[_sqlite_value(v) for v in row.values()] for row in rows],
        )
        cursor.execute("COMMIT")
    finally:
        raw.close()


def _sqlite_value(value: object) -> object:
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime):
        return (
            value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        )
    if isinstance(value, dict):
        return json.dumps(value)
    return value


def _table(model: Any) -> Table:
    found: Table = model.__table__
    return found


def load(db: Database, entries: int, learners: int, seed: int) -> dict[str, Any]:
    """Bulk-load the ledger; answers the ids the queries need and how long it took."""
    rng = random.Random(seed)
    started = time.perf_counter()
    now = datetime.now(UTC)
    with db.session() as session:
        org_id = organizations.create(session, slug="bench", name="Bench", actor="bench").id
    programs = [uuid7() for _ in range(PROGRAMS)]
    _copy(
        db,
        _table(Program),
        [
            {"id": p, "organization_id": org_id, "key": f"p{n}", "created_at": now}
            for n, p in enumerate(programs)
        ],
    )
    people = [uuid7() for _ in range(learners)]
    _copy(
        db,
        _table(Learner),
        [
            {
                "id": person,
                "organization_id": org_id,
                "livemode": True,
                "external_id": f"E{n}",
                # No personal fields: they are sealed per learner (learners.personal) and the
                # ledger's queries never read them.
                "classification": "employee",
                "department": f"D{n % DEPARTMENTS}",
                "country": COUNTRIES[n % len(COUNTRIES)],
                "locale": None,
                "screening_blocked_at": None,
                "created_at": now,
                "updated_at": now,
            }
            for n, person in enumerate(people)
        ],
    )
    wallets = {person: uuid7() for person in people}
    liabilities = {program: uuid7() for program in programs}
    balances: dict[uuid.UUID, int] = dict.fromkeys([*wallets.values(), *liabilities.values()], 0)
    totals: dict[tuple[str, uuid.UUID, uuid.UUID], int] = {}
    accounts = [
        {
            "id": account,
            "organization_id": org_id,
            "livemode": True,
            "key": ledger.wallet(person).key,
            "kind": "wallet",
            "learner_id": person,
            "program_id": None,
            "balance": 0,
            "created_at": now,
            "updated_at": now,
        }
        for person, account in wallets.items()
    ] + [
        {
            "id": account,
            "organization_id": org_id,
            "livemode": True,
            "key": ledger.liability(program).key,
            "kind": "liability",
            "learner_id": None,
            "program_id": program,
            "balance": 0,
            "created_at": now,
            "updated_at": now,
        }
        for program, account in liabilities.items()
    ]
    _copy(db, _table(PointsAccount), accounts)
    year_start = datetime(2026, 1, 1, tzinfo=UTC)
    span = (datetime(2026, 11, 25, tzinfo=UTC) - year_start).total_seconds()
    transactions = entries // 2
    done = 0
    while done < transactions:
        count = min(CHUNK, transactions - done)
        txns: list[dict[str, Any]] = []
        legs: list[dict[str, Any]] = []
        lots: list[dict[str, Any]] = []
        for i in range(done, done + count):
            n = rng.randrange(learners)
            person = people[n]
            program = programs[n % PROGRAMS]  # a learner earns in the program of their group
            points = rng.randint(10, 500)
            occurred = year_start + timedelta(seconds=rng.random() * span)
            tid = uuid7()
            txns.append(
                {
                    "id": tid,
                    "organization_id": org_id,
                    "livemode": True,
                    "key": f"bench:{i}",
                    "kind": TransactionKind.earn.value,
                    "learner_id": person,
                    "program_id": program,
                    "reward_id": None,
                    "reverses_id": None,
                    "points": points,
                    "memo": "bench",
                    "details": {},
                    "actor": "bench",
                    "occurred_at": occurred,
                    "created_at": occurred,
                }
            )
            for account, amount in ((liabilities[program], -points), (wallets[person], points)):
                legs.append(
                    {
                        "id": uuid7(),
                        "organization_id": org_id,
                        "transaction_id": tid,
                        "account_id": account,
                        "amount": amount,
                        "created_at": occurred,
                    }
                )
                balances[account] += amount
            lots.append(
                {
                    "id": uuid7(),
                    "organization_id": org_id,
                    "livemode": True,
                    "learner_id": person,
                    "program_id": program,
                    "transaction_id": tid,
                    "points": points,
                    "remaining": points,
                    "earned_at": occurred,
                    "expires_at": occurred + timedelta(days=730),
                    "created_at": occurred,
                }
            )
            for period in ledger.periods_of(occurred):
                for key in (program, ledger.ALL_PROGRAMS):
                    slot = (period, person, key)
                    totals[slot] = totals.get(slot, 0) + points
        _copy(db, _table(PointsTransaction), txns)
        _copy(db, _table(PointsEntry), legs)
        _copy(db, _table(PointsLot), lots)
        done += count
    accounts_table = _table(PointsAccount)
    with db.engine.begin() as conn:
        conn.execute(
            update(accounts_table)
            .where(accounts_table.c.id == bindparam("_id"))
            .values(balance=bindparam("_balance")),
            [{"_id": account, "_balance": value} for account, value in balances.items()],
        )
    total_rows = [
        {
            "id": uuid7(),
            "organization_id": org_id,
            "livemode": True,
            "period": period,
            "learner_id": person,
            "program_id": program,
            "earned": earned,
            "created_at": now,
        }
        for (period, person, program), earned in totals.items()
    ]
    for start in range(0, len(total_rows), CHUNK):
        _copy(db, _table(PointsPeriodTotal), total_rows[start : start + CHUNK])
    # What autovacuum does after a load on PostgreSQL (visibility map for index-only scans,
    # statistics); SQLite only needs statistics.
    if db.dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return {
        "organization_id": org_id,
        "learners": people,
        "programs": programs,
        "seconds": time.perf_counter() - started,
        "transactions": transactions,
        "entries": transactions * 2,
        "totals_rows": len(total_rows),
    }


def measure(runs: int, call: Callable[[], object]) -> list[float]:
    call()  # warm the statement caches
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return times


def bench_database(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    with throwaway(kind, "points") as db:
        migrate.upgrade(db)
        loaded = load(db, args.entries, args.learners, args.seed)
        rng = random.Random(args.seed + 1)
        sc = ledger.Scope(loaded["organization_id"], True)
        people: list[uuid.UUID] = loaded["learners"]
        learner_table = _table(Learner)
        by_id = select(learner_table).where(learner_table.c.id == bindparam("_id"))

        def baseline() -> None:
            with db.read_session() as session:
                session.execute(by_id, {"_id": rng.choice(people)}).one()

        def wallet() -> None:
            with db.read_session() as session:
                ledger.balance(session, sc, rng.choice(people))

        def board(**kw: Any) -> Callable[[], None]:
            def run() -> None:
                with db.read_session() as session:
                    found = leaderboards.leaderboard(session, sc, viewer=rng.choice(people), **kw)
                assert len(found.places) == 10, found  # a full board, not an empty answer

            return run

        program = loaded["programs"][1]
        liability = ledger.liability(program)

        def post() -> None:
            person = rng.choice(people)
            with db.session() as session:
                ledger.post(
                    session,
                    sc,
                    key=f"live:{uuid7()}",
                    kind=TransactionKind.earn,
                    legs=[(liability, -10), (ledger.wallet(person), 10)],
                    actor="bench",
                    program_id=program,
                )

        cases: list[tuple[str, Callable[[], None], bool]] = [
            ("baseline (pk lookup)", baseline, False),
            ("wallet balance", wallet, True),
            ("board org year", board(board=BoardScope.organization, period="2026"), True),
            (
                "board dept month",
                board(board=BoardScope.department, department="D7", period="2026-06"),
                True,
            ),
            (
                "board program quarter",
                board(board=BoardScope.program, program_id=program, period="2026-Q2"),
                True,
            ),
            ("post earn (write)", post, False),
        ]
        results: dict[str, Any] = {}
        for name, call, _ in cases:
            runs = args.runs if name != "post earn (write)" else max(20, args.runs // 4)
            results[name] = summary_ms(measure(runs, call))
        started = time.perf_counter()
        with db.read_session() as session:
            check = ledger.reconcile(session, loaded["organization_id"])
        reconcile_seconds = time.perf_counter() - started
        assert check.ok, check
        assert check.entries == loaded["entries"] + 2 * (max(20, args.runs // 4) + 1)
        base = results["baseline (pk lookup)"]["p95"]
        rows = []
        for name, _, targeted in cases:
            p95 = results[name]["p95"]
            verdict = ("met" if p95 <= TARGET_MS else "MISSED") if targeted else "-"
            rows.append(
                [
                    kind,
                    name,
                    results[name]["p50"],
                    p95,
                    results[name]["p99"],
                    f"{p95 / base:,.1f}x",
                    verdict,
                ]
            )
        return {
            "database": kind,
            "load_seconds": round(loaded["seconds"], 1),
            "entries": loaded["entries"],
            "transactions": loaded["transactions"],
            "totals_rows": loaded["totals_rows"],
            "learners": len(people),
            "reconcile_seconds": round(reconcile_seconds, 2),
            "results": results,
            "rows": rows,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--learners", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=200, help="timed calls per query")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="keep the raw results")
    args = parser.parse_args(argv)
    load_before = load_average()
    runs = []
    for kind in (k for k in args.databases.split(",") if k):
        run = bench_database(kind, args)
        runs.append(run)
        print(
            f"{run['database']}: {run['entries']:,} entries ({run['transactions']:,} transactions, "
            f"{run['learners']:,} learners, {run['totals_rows']:,} period totals) loaded in "
            f"{run['load_seconds']} s; reconcile over all of it {run['reconcile_seconds']} s: ok",
            flush=True,
        )
    print()
    print(
        table(
            ["database", "query", "p50 ms", "p95 ms", "p99 ms", "p95 / baseline", "≤ 50 ms p95"],
            [row for run in runs for row in run["rows"]],
        )
    )
    print(f"\nload average before {load_before}, after {load_average()}")
    if args.json:
        path = write_json("points", {"args": vars(args), "machine": machine(), "runs": runs})
        print(f"raw results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
