"""The tax gate's cost on batch intake: batches of completions by customers without a TIN
(every one of them "needy": totals read, learners locked on PostgreSQL), stored through
``events.service.ingest_many`` with the whole gate pipeline, beside the same batches with the
tax gate taken out of the pipeline, in the same run, on the same kind of database.

    python -m bench.tax_gate --batches 6 --size 500 [--database postgresql+psycopg://…]

Each run uses its own SQLite file in a temporary directory (or the given PostgreSQL database,
which must be empty and is migrated). Reports the median time per batch, events per second and
the ratio with / without the tax gate.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from laurel import migrate
from laurel.auth import service as auth
from laurel.db import Database
from laurel.events import service as events
from laurel.events.schemas import CompletionIn
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.organizations import service as organizations
from laurel.programs import service as programs
from laurel.programs.schemas import ProgramCreate
from laurel.rewards import gates


def _setup(database: Database, slug: str) -> Actor:
    with database.session() as session:
        org = organizations.create(session, slug=slug, name=slug, actor="bench")
        auth.create_key(
            session, organization_id=org.id, scopes=["admin"], livemode=True, actor="bench"
        )
        actor = Actor("bench", org.id, True, frozenset({"admin"}))
        programs.create_program(
            session,
            actor,
            ProgramCreate.model_validate(
                {
                    "key": "bench",
                    "name": "Bench",
                    "currency": "USD",
                    "rules": [
                        {
                            "name": "flat",
                            "conditions": {},
                            "value": {
                                "kind": "fixed",
                                "amount": {"amount": "25.00", "currency": "USD"},
                            },
                        }
                    ],
                }
            ),
            "USD",
        )
    return actor


def _batch(prefix: str, size: int) -> list[CompletionIn]:
    now = utcnow().isoformat()
    return [
        CompletionIn.model_validate(
            {
                "event_id": f"{prefix}-{n}",
                "occurred_at": now,
                "outcome": "passed",
                "learner": {
                    "external_id": f"{prefix}-L{n}",
                    "name": f"Learner {n}",
                    "classification": "customer",
                    "country": "US",
                },
                "course": {"external_id": "SEC-101", "title": "Security", "type": "compliance"},
            }
        )
        for n in range(size)
    ]


def _run(database: Database, actor: Actor, label: str, batches: int, size: int) -> list[float]:
    times = []
    for b in range(batches):
        items = _batch(f"{label}{b}", size)
        start = time.perf_counter()
        with database.session() as session:
            answers = events.ingest_many(session, actor, items)
        times.append(time.perf_counter() - start)
        assert all(not isinstance(a, Exception) for a in answers)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--database", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{Path(tmp) / 'bench.db'}"
        database = Database(url)
        migrate.upgrade(database)
        actor = _setup(database, "bench-tax")
        gates.pipeline()
        # The tax gate is taken out and put back between batches (private registry on purpose).
        tax = gates._GATES["tax"]
        results: dict[str, list[float]] = {"with": [], "without": []}
        # Alternate, so drift on a shared machine hits both sides alike.
        for round_ in range(args.batches):
            results["with"] += _run(database, actor, f"w{round_}-", 1, args.size)
            del gates._GATES["tax"]
            try:
                results["without"] += _run(database, actor, f"o{round_}-", 1, args.size)
            finally:
                gates.register(tax)
        database.dispose()
    with_tax = statistics.median(results["with"])
    without = statistics.median(results["without"])
    print(f"database: {url.split(':')[0]}, batches: {args.batches} x {args.size} events")
    rate = args.size / with_tax
    print(f"with the tax gate:    {with_tax * 1000:8.1f} ms/batch  {rate:8.0f} events/s")
    print(
        f"without the tax gate: {without * 1000:8.1f} ms/batch  {args.size / without:8.0f} events/s"
    )
    print(f"ratio: {with_tax / without:.2f}")


if __name__ == "__main__":
    main()
