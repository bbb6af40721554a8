"""Racing deliveries of completions to a real `laurel serve` process on loopback.

An LMS that retries aggressively, or several LMS nodes reporting the same completion, must
never produce two events or two rewards: idempotency is the events' and the rewards' unique
indexes, and the loser of each race answers from the winner's rows.
"""

from __future__ import annotations

import signal
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from laurel.audit import service as audit
from laurel.audit.models import AuditEntry
from laurel.db import Database
from laurel.delivery.models import Delivery, SandboxIssuance
from laurel.delivery.secrets import mask  # codes are stored masked (and sealed)
from laurel.events.models import CompletionEvent
from laurel.rewards.models import Reward
from tests.concurrency.processes import Processes, eventually
from tests.conftest import Tenant, completion
from tests.factories import fixed_program

PARALLEL = 20

pytestmark = pytest.mark.slow


@pytest.fixture
def server(database: Database, processes: Processes) -> Iterator[str]:
    """`laurel serve` (API and its in-process worker) on the test's database."""
    process, url = processes.serve(database.url)
    yield url
    # Uvicorn shuts down gracefully, then re-raises the signal so the exit status tells it.
    assert process.terminate() in {0, -signal.SIGTERM}, process.tail()
    log = process.output()
    assert "Application shutdown complete" in log, process.tail()
    assert "worker stopped" in log, process.tail()
    assert "Traceback" not in log, process.tail()


def _post_together(url: str, bodies: list[dict[str, Any]], tenant: Tenant) -> list[httpx.Response]:
    """POST every body at once, each from its own thread and connection."""
    barrier = threading.Barrier(len(bodies))

    def post(body: dict[str, Any]) -> httpx.Response:
        with httpx.Client(base_url=url, headers=tenant.headers, timeout=60) as http:
            http.get("/healthz").raise_for_status()  # connected: only the posts race
            barrier.wait(timeout=30)
            return http.post("/api/v1/completions", json=body)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(post, bodies))


def _warm_up(client: TestClient, tenant: Tenant, known: bool) -> None:
    """With ``known``, a failed attempt first makes the learner and the course exist, so the
    racers do not queue on creating them and meet at the event and reward inserts instead."""
    if known:
        failed = completion("lms-warm-up", outcome="failed")
        response = client.post("/api/v1/completions", json=failed, headers=tenant.headers)
        assert response.status_code == 202, response.text
        assert response.json()["rewards"] == []


def _delivered_once(database: Database, reward_id: uuid.UUID) -> None:
    def delivered() -> bool:
        with database.sessionmaker() as session:
            return session.get_one(Reward, reward_id).state == "delivered"

    eventually(delivered, timeout=30, what="the server's worker to deliver the reward")
    with database.sessionmaker() as session:
        deliveries = session.scalars(select(Delivery).where(Delivery.reward_id == reward_id)).all()
        issuances = session.scalars(
            select(SandboxIssuance).where(SandboxIssuance.idempotency_key == str(reward_id))
        ).all()
        assert len(deliveries) == 1
        assert len(issuances) == 1
        assert deliveries[0].details["code"] == mask(issuances[0].code)


def _count(database: Database, model: type[Any], *where: Any) -> int:
    with database.sessionmaker() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


KNOWN = pytest.mark.parametrize("learner_known", [False, True], ids=["new", "known"])


@KNOWN
def test_same_completion_posted_in_parallel_is_stored_and_paid_once(
    database: Database, client: TestClient, tenant: Tenant, server: str, learner_known: bool
) -> None:
    fixed_program(client, tenant, amount="25.00")
    _warm_up(client, tenant, learner_known)

    responses = _post_together(server, [completion("lms-race")] * PARALLEL, tenant)

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {202: 1, 200: PARALLEL - 1}, [r.text for r in responses]
    answers = [r.json() for r in responses]
    first = next(a for r, a in zip(responses, answers, strict=True) if r.status_code == 202)
    assert first["replayed"] is False
    assert [d["result"] for d in first["decisions"]] == ["rewarded"]
    assert sum(a["replayed"] for a in answers) == PARALLEL - 1
    # Every answer describes the same stored event and the same single reward.
    assert {a["id"] for a in answers} == {first["id"]}
    assert {tuple(r["id"] for r in a["rewards"]) for a in answers} == {(first["rewards"][0]["id"],)}
    assert {tuple(d["result"] for d in a["decisions"]) for a in answers} == {("rewarded",)}

    event_id = uuid.UUID(first["id"])
    reward_id = uuid.UUID(first["rewards"][0]["id"])
    assert _count(database, CompletionEvent, CompletionEvent.source_event_id == "lms-race") == 1
    assert _count(database, Reward) == 1
    receipts = (
        AuditEntry.action == "events:completion:receive",
        AuditEntry.target_id == str(event_id),
    )
    assert _count(database, AuditEntry, *receipts) == 1
    assert _count(database, AuditEntry, AuditEntry.action == "rewards:reward:create") == 1
    _delivered_once(database, reward_id)
    with database.sessionmaker() as session:
        chain = audit.verify_chain(session, tenant.id)
    assert chain.ok, chain.reason


@KNOWN
def test_distinct_events_for_one_course_in_parallel_pay_once(
    database: Database, client: TestClient, tenant: Tenant, server: str, learner_known: bool
) -> None:
    fixed_program(client, tenant, amount="25.00")
    _warm_up(client, tenant, learner_known)

    bodies = [completion(f"lms-node-{n}") for n in range(PARALLEL)]
    responses = _post_together(server, bodies, tenant)

    assert [r.status_code for r in responses] == [202] * PARALLEL, [r.text for r in responses]
    answers = [r.json() for r in responses]
    assert len({a["id"] for a in answers}) == PARALLEL
    results = Counter(d["result"] for a in answers for d in a["decisions"])
    assert results == {"rewarded": 1, "duplicate": PARALLEL - 1}
    winner = next(a for a in answers if a["decisions"][0]["result"] == "rewarded")
    assert len(winner["rewards"]) == 1
    reward_id = uuid.UUID(winner["rewards"][0]["id"])
    assert winner["decisions"][0]["reward_id"] == str(reward_id)
    for answer in answers:
        if answer is not winner:
            assert answer["rewards"] == []
            assert answer["decisions"][0]["reward_id"] is None

    assert _count(database, CompletionEvent, CompletionEvent.outcome == "passed") == PARALLEL
    assert _count(database, Reward) == 1
    _delivered_once(database, reward_id)
    with database.sessionmaker() as session:
        chain = audit.verify_chain(session, tenant.id)
    assert chain.ok, chain.reason
