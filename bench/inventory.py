"""Gift-code allocation by the ``inventory`` provider, against the sandbox provider's issue.

    python -m bench.inventory --codes 3000 --orders 2000 --threads 8
    python -m bench.inventory --database-url postgresql+psycopg://postgres@127.0.0.1/bench_inv

In one process, on a fresh migrated database (SQLite in a temporary directory by default):
uploads ``--codes`` codes (parse, seal, HMAC, insert), then ``--threads`` threads each issue
their share of ``--orders`` rewards through ``InventoryProvider.issue`` (pick, guarded UPDATE,
decrypt, low-stock check, commit), then as many through ``SandboxProvider.issue`` (one INSERT
of a generated code, commit), the baseline: the cheapest idempotent issue on the same database.
Reports calls per second, per-call p50/p99, the ratio inventory / sandbox, and checks that no
code was handed out twice.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench import harness
from laurel import migrate
from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.inventory import service as inventory
from laurel.delivery.inventory.sealing import CodeBox
from laurel.delivery.models import InventoryCode
from laurel.delivery.providers import Issued, IssueOrder
from laurel.delivery.providers.inventory import InventoryProvider
from laurel.delivery.providers.sandbox import SandboxProvider
from laurel.kit.money import Money
from laurel.organizations import service as organizations


def _orders(organization_id: uuid.UUID, n: int) -> list[IssueOrder]:
    return [
        IssueOrder(
            idempotency_key=str(uuid.uuid4()),
            organization_id=organization_id,
            amount=Money(2500, "USD"),
            reward_kind="gift_card",
            livemode=True,
            recipient_email=None,
            recipient_name=None,
            locale=None,
        )
        for _ in range(n)
    ]


def _run(
    issue: Callable[[IssueOrder], Issued], orders: list[IssueOrder], threads: int
) -> dict[str, Any]:
    latencies: list[float] = []
    codes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(threads + 1)

    def work(mine: list[IssueOrder]) -> None:
        start.wait()
        for order in mine:
            began = time.perf_counter()
            issued = issue(order)
            spent = time.perf_counter() - began
            with lock:
                latencies.append(spent)
                codes.append(str(issued.details["code"]))

    workers = [threading.Thread(target=work, args=(orders[n::threads],)) for n in range(threads)]
    for w in workers:
        w.start()
    start.wait()
    began = time.perf_counter()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - began
    return {
        "calls": len(latencies),
        "seconds": round(elapsed, 3),
        "per_second": round(len(latencies) / elapsed, 1),
        "call_ms": harness.summary_ms(latencies),
        "distinct_codes": len(set(codes)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--codes", type=int, default=3000)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--database-url", default=None, help="an empty database (default: SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        database = Database(url)
        migrate.upgrade(database)
        settings = Settings(database_url=url)
        with database.session() as session:
            org = organizations.create(
                session, slug=f"bench-{uuid.uuid4().hex[:6]}", name="Bench", actor="bench"
            )
            org_id = org.id
        rows = "\n".join(
            f"Amazon,25.00,USD,BENCH-{uuid.uuid4().hex},{n % 10000:04d}," for n in range(args.codes)
        )
        began = time.perf_counter()
        with database.session() as session:
            uploaded = inventory.upload(
                session,
                org_id,
                ("brand,value,currency,code,PIN,expiry\n" + rows).encode(),
                box=CodeBox(settings.secret_key),
                actor="bench",
                default_threshold=10,
            )
        upload_seconds = time.perf_counter() - began
        inv = _run(
            InventoryProvider(database, settings).issue, _orders(org_id, args.orders), args.threads
        )
        sandbox = _run(SandboxProvider(database).issue, _orders(org_id, args.orders), args.threads)
        with database.session() as session:
            allocated = session.scalar(
                select(func.count()).where(InventoryCode.allocated_to.is_not(None))
            )
        database.dispose()
    result = {
        "database": "postgresql" if url.startswith("postgresql") else "sqlite",
        "codes": args.codes,
        "stored": uploaded.stored,
        "upload_seconds": round(upload_seconds, 3),
        "upload_codes_per_second": round(uploaded.stored / upload_seconds, 1),
        "threads": args.threads,
        "inventory": inv,
        "sandbox": sandbox,
        "ratio_per_second": round(inv["per_second"] / sandbox["per_second"], 2),
        "allocated": allocated,
        "machine": harness.machine(),
    }
    assert inv["distinct_codes"] == inv["calls"] == allocated, "a code was handed out twice"
    print(
        harness.table(
            ["provider", "issues/s", "p50 ms", "p99 ms", "max ms"],
            [
                [
                    "inventory",
                    inv["per_second"],
                    inv["call_ms"]["p50"],
                    inv["call_ms"]["p99"],
                    inv["call_ms"]["max"],
                ],
                [
                    "sandbox (baseline)",
                    sandbox["per_second"],
                    sandbox["call_ms"]["p50"],
                    sandbox["call_ms"]["p99"],
                    sandbox["call_ms"]["max"],
                ],
            ],
        )
    )
    print(
        f"\ninventory / sandbox issues per second: {result['ratio_per_second']}; "
        f"upload: {result['upload_codes_per_second']} codes/s; every code handed out once: "
        f"{inv['distinct_codes']} distinct of {inv['calls']}"
    )
    print(f"raw figures: {harness.write_json('inventory', result)}")


if __name__ == "__main__":
    main()
