"""Concurrent sweeps and callers: each learner erased once, each request answered once."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from laurel.audit import service as audit
from laurel.audit.models import AuditEntry
from laurel.db import Database
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import AppError
from laurel.privacy import retention, service
from tests.conftest import Tenant
from tests.privacy.support import earn, learner_id, populate
from tests.privacy.test_retention import _age

THREADS = 4


def _race(work: list[object]) -> None:
    barrier = threading.Barrier(len(work))
    errors: list[BaseException] = []

    def run(fn: object) -> None:
        barrier.wait()
        try:
            fn()  # type: ignore[operator]
        except BaseException as exc:  # collected and judged by the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(fn,)) for fn in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    work.clear()
    work.extend(errors)


def test_concurrent_retention_sweeps_erase_each_learner_once(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    people = populate(client, tenant)
    ids = [people.a, people.b]
    for n in range(3, 7):
        earn(client, tenant, f"x-{n}", f"E{n}", "SEC-101", country="FR")
        ids.append(learner_id(client, tenant, f"E{n}"))
    old = utcnow() - timedelta(days=4 * 365)
    for who in ids:
        _age(database, who, old)

    def sweep() -> None:
        with database.session() as session:
            retention.run(session, tenant.id, now=utcnow(), actor="worker")

    work: list[object] = [sweep for _ in range(THREADS)]
    _race(work)
    assert work == []
    with database.read_session() as session:
        erased = Counter(
            session.scalars(
                select(AuditEntry.target_id).where(
                    AuditEntry.organization_id == tenant.id,
                    AuditEntry.action == "privacy:learner:erase",
                )
            )
        )
        assert audit.verify_chain(session, tenant.id).ok
    assert erased == Counter(dict.fromkeys(ids, 1))


def test_one_request_is_answered_once_under_concurrent_callers(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    people = populate(client, tenant)
    made = client.post(
        "/api/v1/privacy/requests",
        headers=tenant.headers,
        json={"learner_id": people.a, "kind": "deletion"},
    ).json()
    actor = Actor(name="test", organization_id=tenant.id)
    done: list[str] = []

    def fulfil() -> None:
        with database.session() as session:
            service.fulfil(session, actor, uuid.UUID(made["id"]))
        done.append("ok")

    work: list[object] = [fulfil for _ in range(THREADS)]
    _race(work)
    assert done == ["ok"]
    assert len(work) == THREADS - 1
    assert all(isinstance(e, AppError) and e.code == "privacy_request_closed" for e in work)
    trail = client.get(
        "/api/v1/audit",
        headers=tenant.headers,
        params={"action": "privacy:learner:erase", "target_id": people.a},
    ).json()
    assert len(trail) == 1
