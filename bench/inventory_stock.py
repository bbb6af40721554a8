"""Stock the demo organization's gift-code inventory for a ``bench.latency --inventory`` run.

    python -m bench.inventory_stock --first N --count M   (run by bench.latency --inventory)

Run as a child process in the benchmark's environment (``LAUREL_DATABASE_URL`` and, with
``--commit``, ``PYTHONPATH``), so it uses the code under test. It

1. routes every live instant program that pays through the sandbox to the ``inventory``
   provider for its reward kind (as an administrator would through
   ``PUT /api/v1/programs/{id}/provider-routes``);
2. asks :func:`laurel.rewards.dryrun.dry_run` what each completion the run will send would pay
   (``bench.harness.completion`` names its learner and course), and counts the instant rewards
   per value;
3. uploads that many codes per value, and a tenth more, as one inventory CSV.

The run then exercises the real ``inventory`` issue path (pick, guarded UPDATE, decrypt,
low-stock check) instead of the sandbox's, and the inventory gate passes every reward.
Prints one JSON line: codes uploaded per value and the programs routed.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import secrets
import uuid
from collections import Counter
from typing import Any

from sqlalchemy import select

from bench import harness
from laurel.config import Settings
from laurel.courses.models import Course
from laurel.db import Database
from laurel.delivery import routing
from laurel.delivery.inventory import service as inventory
from laurel.delivery.inventory.sealing import CodeBox
from laurel.kit.actor import Actor
from laurel.kit.money import Money
from laurel.learners.models import Learner
from laurel.organizations.models import Organization
from laurel.programs import service as programs
from laurel.rewards.dryrun import dry_run

ACTOR = "cli:bench"
BRAND = "Bench Card"
SPARE = 1.1


def _pairs(rows: Any) -> dict[str, uuid.UUID]:
    return {row[0]: row[1] for row in rows}


def stock(database: Database, settings: Settings, indexes: range) -> dict[str, object]:
    with database.session() as session:
        org = session.scalars(select(Organization).where(Organization.slug == "demo")).one()
        actor = Actor(name=ACTOR, organization_id=org.id, scopes=frozenset({"admin"}))
        routed = []
        for view in programs.list_programs(session, actor):
            v = view.version
            if v.active and v.delivery == "instant" and v.provider == "sandbox":
                routes = {v.reward_kind: ["inventory"]}
                routing.set_routes(session, actor, view.program.id, routes, {"inventory"})
                routed.append(view.program.key)
    needed: Counter[Money] = Counter()
    with database.session() as session:
        learners = _pairs(
            session.execute(
                select(Learner.external_id, Learner.id).where(
                    Learner.organization_id == org.id, Learner.livemode.is_(True)
                )
            )
        )
        courses = _pairs(
            session.execute(
                select(Course.external_id, Course.id).where(
                    Course.organization_id == org.id, Course.livemode.is_(True)
                )
            )
        )
        for index in indexes:
            event = harness.completion(index, "stock")
            rehearsal = dry_run(
                session,
                actor,
                learners[event["learner"]["external_id"]],
                courses[event["course"]["external_id"]],
            )
            for outcome in rehearsal.outcomes:
                if outcome.amount is not None and "inventory" in outcome.providers[:1]:
                    needed[outcome.amount] += 1
    body = io.StringIO()
    out = csv.writer(body)
    out.writerow(["brand", "value", "currency", "code", "PIN", "expiry"])
    for value, count in sorted(needed.items(), key=lambda kv: (kv[0].currency, kv[0].minor)):
        for _ in range(int(count * SPARE) + 1):
            out.writerow(
                [BRAND, value.format_amount(), value.currency, secrets.token_hex(8), "", ""]
            )
    with database.session() as session:
        result = inventory.upload(
            session,
            org.id,
            body.getvalue().encode(),
            box=CodeBox(settings.secret_key),
            actor=ACTOR,
            default_threshold=settings.inventory_low_stock,
        )
    return {
        "routed": routed,
        "needed": {str(v): n for v, n in needed.items()},
        "stored": result.stored,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.inventory_stock")
    parser.add_argument("--first", type=int, required=True, help="index of the run's first event")
    parser.add_argument("--count", type=int, required=True, help="events the run will send")
    args = parser.parse_args()
    settings = Settings()
    database = Database(settings.database_url)
    print(json.dumps(stock(database, settings, range(args.first, args.first + args.count))))


if __name__ == "__main__":
    main()
