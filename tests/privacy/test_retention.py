"""Retention: expired personal data is pseudonymised while financial totals still add up;
financial records go when their own period ends."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import extract, func, select, update

from laurel.budgets.models import BudgetWindow
from laurel.db import Database
from laurel.events.models import CompletionEvent
from laurel.kit.clock import utcnow
from laurel.learners.models import Learner
from laurel.rewards.models import Reward
from tests.conftest import Tenant
from tests.privacy.support import populate


def _age(database: Database, learner: str, when: datetime) -> None:
    """Move a learner's whole history back to ``when``."""
    who = uuid.UUID(learner)
    with database.session() as session:
        session.execute(update(Learner).where(Learner.id == who).values(updated_at=when))
        session.execute(
            update(CompletionEvent)
            .where(CompletionEvent.learner_id == who)
            .values(received_at=when, occurred_at=when)
        )
        session.execute(
            update(Reward)
            .where(Reward.learner_id == who)
            .values(updated_at=when, created_at=when, delivered_at=when)
        )


def _tax_totals(database: Database) -> list[tuple[Any, ...]]:
    """What a tax report adds up: rewards per tax year, currency and country."""
    year = extract("year", func.coalesce(Reward.delivered_at, Reward.created_at))
    with database.read_session() as session:
        return list(
            session.execute(
                select(
                    year,
                    Reward.currency,
                    Learner.country,
                    func.count(),
                    func.sum(Reward.amount_minor),
                )
                .join(Learner, Learner.id == Reward.learner_id)
                .group_by(year, Reward.currency, Learner.country)
                .order_by(year, Reward.currency, Learner.country)
            )
        )


def _learner(database: Database, learner: str) -> Learner:
    with database.read_session() as session:
        found = session.get(Learner, uuid.UUID(learner))
        assert found is not None
        # Personal fields open with the learner's key, inside the unit of work.
        (found.name, found.email)  # noqa: B018
        session.expunge(found)
        return found


def _run(database: Database) -> str:
    env = os.environ | {"LAUREL_DATABASE_URL": database.url}
    done = subprocess.run(
        [sys.executable, "-m", "laurel", "privacy", "retention", "run"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_learner_past_retention_is_pseudonymised_and_tax_totals_still_add_up(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    people = populate(client, tenant)
    _age(database, people.a, utcnow() - timedelta(days=4 * 365))
    before = _tax_totals(database)
    assert len(before) == 2  # four years ago in DE, this year in the US

    assert _run(database) == ("pseudonymised 1 learner(s); deleted the financial records of 0")
    gone = _learner(database, people.a)
    assert (gone.name, gone.email, gone.external_id) == (None, None, f"erased-{people.a}")
    assert gone.pseudonymised_at is not None
    assert gone.country == "DE"
    kept = _learner(database, people.b)
    assert (kept.name, kept.pseudonymised_at) == ("Bo Berg", None)
    assert _tax_totals(database) == before
    # A second run finds nothing more to do.
    assert _run(database).startswith("pseudonymised 0")
    trail = client.get(
        "/api/v1/audit",
        headers=tenant.headers,
        params={"action": "privacy:learner:erase", "target_id": people.a},
    ).json()
    assert len(trail) == 1
    assert trail[0]["details"]["reason"] == "retention"


def test_policy_per_jurisdiction(client: TestClient, tenant: Tenant, database: Database) -> None:
    people = populate(client, tenant)
    shorter = client.put(
        "/api/v1/privacy/retention",
        headers=tenant.headers,
        json={"jurisdiction": "gdpr", "data_kind": "personal", "days": 30},
    )
    assert shorter.status_code == 200, shorter.text
    table = {(p["jurisdiction"], p["data_kind"]): p for p in shorter.json()}
    assert table[("gdpr", "personal")] == {
        "jurisdiction": "gdpr",
        "data_kind": "personal",
        "days": 30,
        "source": "policy",
    }
    assert table[("ccpa", "financial")]["days"] == 7 * 365
    assert table[("ccpa", "financial")]["source"] == "default"
    sixty_days_ago = utcnow() - timedelta(days=60)
    _age(database, people.a, sixty_days_ago)  # DE: GDPR, 30 days
    _age(database, people.b, sixty_days_ago)  # US-CA: CCPA, the default three years
    ran = client.post("/api/v1/privacy/retention/run", headers=tenant.headers).json()
    assert ran == {"pseudonymised": [people.a], "financial_deleted": []}
    bad = client.put(
        "/api/v1/privacy/retention",
        headers=tenant.headers,
        json={"jurisdiction": "mars", "data_kind": "personal", "days": 30},
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["field"] == "jurisdiction"


def test_financial_records_go_when_their_period_ends(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    people = populate(client, tenant)
    with database.read_session() as session:
        spent_before = session.scalar(select(func.sum(BudgetWindow.spent_minor)))
    _age(database, people.a, utcnow() - timedelta(days=9 * 365))
    assert _run(database) == "pseudonymised 1 learner(s); deleted the financial records of 1"
    with database.read_session() as session:
        left = session.scalar(
            select(func.count()).select_from(Reward).where(Reward.learner_id == uuid.UUID(people.a))
        )
        others = session.scalar(
            select(func.count()).select_from(Reward).where(Reward.learner_id == uuid.UUID(people.b))
        )
        spent_after = session.scalar(select(func.sum(BudgetWindow.spent_minor)))
    assert (left, others) == (0, 1)
    assert spent_after == spent_before  # program budgets keep their totals
    verified = client.post("/api/v1/audit/verify", headers=tenant.headers).json()
    assert verified["ok"] is True


def test_worker_sweep_reminds_and_applies_retention(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    from laurel.privacy import sweep

    people = populate(client, tenant)
    late = client.post(
        "/api/v1/privacy/requests",
        headers=tenant.headers,
        json={
            "learner_id": people.b,
            "kind": "access",
            "received_at": (utcnow() - timedelta(days=44)).isoformat(),
        },
    ).json()
    _age(database, people.a, utcnow() - timedelta(days=4 * 365))
    thread, stop = sweep.start_scheduler(database, interval=30)
    try:
        for _ in range(200):
            if _learner(database, people.a).pseudonymised_at is not None:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(10)
    assert _learner(database, people.a).pseudonymised_at is not None
    found = client.get(f"/api/v1/privacy/requests/{late['id']}", headers=tenant.headers).json()
    assert found["reminded_at"] is not None
