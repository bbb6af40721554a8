"""Group commit of xAPI requests: single statements that arrive together share one
transaction, each request still answered (and refused) on its own."""

from __future__ import annotations

import threading
from typing import Any

from fastapi.testclient import TestClient

from laurel.db import Database
from laurel.events.connectors.xapi import service
from laurel.events.connectors.xapi.service import StatementConflict, Stored
from laurel.kit.clock import utcnow
from laurel.kit.group_commit import GroupCommit
from tests.conftest import Tenant
from tests.events.connectors.xapi.support import basic, statement
from tests.events.test_grouped import submit_together
from tests.factories import fixed_program, table_counts


def _committer(database: Database) -> GroupCommit[list[dict[str, Any]], Stored]:
    return GroupCommit(database, service.store_requests)


def _one(email: str, **extra: Any) -> list[dict[str, Any]]:
    body = statement("completed", email=email, timestamp=utcnow().isoformat(), **extra)
    return [body]


def test_queued_requests_share_one_transaction(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant)
    grouped = _committer(database)
    requests = [_one(f"l{n}@example.com") for n in range(6)]
    answers = submit_together(grouped, tenant.actor, requests)
    assert grouped.transactions == 1
    assert all(isinstance(a, Stored) for a in answers)
    for request, answer in zip(requests, answers, strict=True):
        assert isinstance(answer, Stored)
        assert [str(i) for i in answer.ids] == [request[0]["id"]]
        # Each request gets the completion its own statement made, not its neighbours'.
        assert [i.event.source_event_id for i in answer.intakes] == [request[0]["id"]]
    assert table_counts(database)["completion_events"] == 6
    assert table_counts(database)["rewards"] == 6


def test_a_conflicting_request_fails_alone(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant)
    kept = _one("kept@example.com")
    assert client.post("/xapi/statements", json=kept, headers=basic(tenant.live_key)).status_code
    before = table_counts(database)
    grouped = _committer(database)
    changed = [{**kept[0], "verb": {"id": "http://adlnet.gov/expapi/verbs/passed"}}]
    replay = [dict(kept[0])]
    fresh = [_one(f"f{n}@example.com") for n in range(3)]
    answers = submit_together(grouped, tenant.actor, [fresh[0], changed, replay, *fresh[1:]])
    assert isinstance(answers[1], StatementConflict)
    assert isinstance(answers[2], Stored)
    assert answers[2].intakes == []  # a replay pays nothing again
    assert all(isinstance(answers[i], Stored) for i in (0, 3, 4))
    after = table_counts(database)
    assert after["completion_events"] == before["completion_events"] + 3
    assert after["rewards"] == before["rewards"] + 3


def test_the_same_statement_twice_in_one_group_pays_once(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant)
    grouped = _committer(database)
    body = _one("twice@example.com")
    answers = submit_together(grouped, tenant.actor, [body, [dict(body[0])]])
    assert all(isinstance(a, Stored) for a in answers)
    assert table_counts(database)["rewards"] == 1


def test_parallel_single_statements_over_http(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant)
    headers = basic(tenant.live_key)
    statuses: list[int] = []
    lock = threading.Lock()

    def send(n: int) -> None:
        for k in range(4):
            answer = client.post(
                "/xapi/statements", json=_one(f"p{n}-{k}@example.com"), headers=headers
            )
            with lock:
                statuses.append(answer.status_code)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert statuses == [200] * 24
    assert table_counts(database)["rewards"] == 24
