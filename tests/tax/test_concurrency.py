"""Parallel completions for one learner without a TIN, on real `laurel serve` processes: the
rewards that together reach the threshold are never all passed (the gate locks the learner)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from laurel.db import Database
from laurel.rewards.models import Reward
from laurel.tax.models import TaxRecord
from tests.concurrency.processes import Processes
from tests.conftest import Tenant, completion
from tests.factories import fixed_program

PARALLEL = 8

pytestmark = pytest.mark.slow


SERVERS = 4


@pytest.fixture
def servers(database: Database, tmp_path: Path) -> Iterator[list[str]]:
    """Several `laurel serve` processes: each groups its own requests into one transaction,
    so only separate processes make separate transactions race."""
    processes = Processes(tmp_path)
    try:
        yield [processes.serve(database.url)[1] for _ in range(SERVERS)]
    finally:
        processes.close()


def test_parallel_rewards_never_pass_the_threshold_together(
    database: Database, client: TestClient, tenant: Tenant, servers: list[str]
) -> None:
    fixed_program(client, tenant, amount="500.00")
    barrier = threading.Barrier(PARALLEL)

    def post(n: int) -> int:
        body = completion(f"race-{n}", learner="R1", course=f"C-{n}")
        body["learner"]["classification"] = "customer"
        with httpx.Client(
            base_url=servers[n % SERVERS], headers=tenant.headers, timeout=60
        ) as http:
            http.get("/healthz").raise_for_status()
            barrier.wait(timeout=30)
            return http.post("/api/v1/completions", json=body).status_code

    with ThreadPoolExecutor(PARALLEL) as pool:
        assert list(pool.map(post, range(PARALLEL))) == [202] * PARALLEL
    with database.sessionmaker() as session:
        rewards = session.scalars(select(Reward)).all()
        passed = [r for r in rewards if r.state != "held"]
        held = [r for r in rewards if r.state == "held"]
        # $500 each, $2,000 threshold: three pass ($1,500); the fourth would reach it.
        assert len(passed) == 3, [(r.state, r.hold_reasons) for r in rewards]
        assert len(held) == PARALLEL - 3
        assert {h["reason"] for r in held for h in r.hold_reasons} == {"tax_form_required"}
        recorded = session.scalars(select(TaxRecord)).all()
        assert sorted(r.source_id for r in recorded) == sorted(str(r.id) for r in passed)
        assert sum(r.usd_minor for r in recorded) == 150_000
