"""Dashboard pages: render time (p50/p95) with many learners and events, in one process.

    python -m bench.dashboard --learners 2000 --events 20000 --samples 15

Seeds a fresh SQLite file (or ``--postgres URL`` of an empty database) with the demo
organization's courses and programs, then ``--events`` passed completions from ``--learners``
learners in eight departments, through ``events.service.ingest_many`` in batches of 1,000 (the
real intake path, so rewards, holds and the audit trail are real). A signed-in ``org_admin``
then requests every page and fragment ``--samples`` times through the ASGI app (TestClient, no
network), after one warm-up request each.

Baseline, measured in the same run: ``GET /api/v1/analytics/overview``, the JSON report the
overview page builds on; each page is reported as its p95 and as a ratio of its p95 to the
baseline's. Target (issue 7): every page <= 300 ms p95 at 50,000 learners and 1,000,000 events.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from bench.harness import COURSES, percentile, table
from laurel import demo, migrate
from laurel.app import create_app
from laurel.auth import users
from laurel.config import Environment, Settings
from laurel.db import Database
from laurel.events import service as events
from laurel.events.schemas import CompletionIn
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.organizations.models import Organization

DEPARTMENTS = ("Sales", "Engineering", "Finance", "Legal", "Support", "HR", "Ops", "Marketing")
PASSWORD = "bench password 2026"
PAGES = (
    "/api/v1/analytics/overview",
    "/dashboard/overview",
    "/dashboard/overview/numbers",
    "/dashboard/overview/rates?by=department",
    "/dashboard/rewards",
    "/dashboard/rewards?state=held",
    "/dashboard/held",
    "/dashboard/finance",
    "/dashboard/compliance",
    "/dashboard/programs",
    "/dashboard/team",
    "/dashboard/team/rates",
)


def seed(database: Database, learners: int, count: int) -> Organization:
    demo.seed(database)
    rng = random.Random(7)
    now = utcnow()
    with database.session() as session:
        org = session.scalar(select(Organization).where(Organization.slug == demo.ORG))
        assert org is not None
        session.expunge(org)
    actor = Actor(name="bench", organization_id=org.id, scopes=frozenset({"admin"}))
    for start in range(0, count, 1000):
        batch = []
        for i in range(start, min(count, start + 1000)):
            who = rng.randrange(learners)
            batch.append(
                CompletionIn.model_validate(
                    {
                        "event_id": f"bench-{i}",
                        "occurred_at": (
                            now - timedelta(minutes=rng.randrange(525_600))
                        ).isoformat(),
                        "outcome": "passed",
                        "score": 0.9,
                        "learner": {
                            "external_id": f"B{who:06d}",
                            "email": f"b{who}@bench.test",
                            "name": f"Bench Learner {who}",
                            "department": DEPARTMENTS[who % len(DEPARTMENTS)],
                            "country": "US",
                        },
                        "course": {"external_id": rng.choice(COURSES)},
                    }
                )
            )
        with database.session() as session:
            events.ingest_many(session, actor, batch)
    with database.session() as session:
        users.create(
            session,
            organization_id=org.id,
            email="bench@demo.test",
            roles=["org_admin"],
            password=PASSWORD,
            actor="bench",
        )
    return org


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--learners", type=int, default=2000)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--postgres", default="", help="URL of an empty PostgreSQL database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        url = args.postgres or f"sqlite:///{Path(workdir) / 'bench.db'}"
        database = Database(url)
        migrate.upgrade(database)
        began = time.perf_counter()
        seed(database, args.learners, args.events)
        seeded = time.perf_counter() - began
        settings = Settings(database_url=url, environment=Environment.development)
        app = create_app(settings, database)
        rows = []
        with TestClient(app) as client:
            answer = client.post(
                "/api/v1/auth/sign-in",
                json={"organization": demo.ORG, "email": "bench@demo.test", "password": PASSWORD},
            )
            assert answer.status_code == 200, answer.text
            baseline = 0.0
            for path in PAGES:
                assert client.get(path).status_code == 200, path
                took = []
                for _ in range(args.samples):
                    t0 = time.perf_counter()
                    response = client.get(path)
                    took.append((time.perf_counter() - t0) * 1000)
                    assert response.status_code == 200, path
                p95 = percentile(took, 95)
                baseline = baseline or p95
                rows.append(
                    [path, f"{statistics.median(took):.1f}", f"{p95:.1f}", f"{p95 / baseline:.2f}"]
                )
        database.dispose()
    kind = "postgresql" if args.postgres else "sqlite"
    print(
        f"{kind}: {args.learners} learners, {args.events} events "
        f"(seeded in {seeded:.0f} s), {args.samples} samples per page"
    )
    print(table(["page", "p50 ms", "p95 ms", "p95 / baseline"], rows))


if __name__ == "__main__":
    main()
