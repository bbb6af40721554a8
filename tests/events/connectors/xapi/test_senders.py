"""Statements as real senders send them: timestamps without a zone or in basic form (1.0.3),
clocks running ahead, ``success: false`` on a finished attempt, and a voiding statement that
arrives before the statement it voids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from laurel.audit.models import AuditEntry
from laurel.db import Database
from laurel.events.connectors.xapi.models import XapiStatement
from laurel.events.connectors.xapi.validation import check_statement
from laurel.kit.clock import utcnow
from tests.conftest import Tenant
from tests.events.connectors.xapi.support import basic, statement, voiding
from tests.events.connectors.xapi.test_api import event_of, rewards_of
from tests.factories import fixed_program


def _stored(database: Database, statement_id: str) -> XapiStatement:
    with database.sessionmaker() as session:
        row = session.scalar(
            select(XapiStatement).where(XapiStatement.statement_id == uuid.UUID(statement_id))
        )
        assert row is not None
        session.expunge(row)
        return row


def _two(key: str) -> dict[str, str]:
    return basic(key) | {"X-Experience-API-Version": "2.0.0"}


def test_a_1_0_3_timestamp_without_a_zone_is_read_as_utc(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    naive = statement("completed", timestamp="2026-03-01T14:05:00")
    response = client.post("/xapi/statements", json=naive, headers=basic(tenant.live_key))
    assert response.status_code == 200, response.text
    event = event_of(database, naive["id"])
    assert event is not None
    assert event.occurred_at == datetime(2026, 3, 1, 14, 5, tzinfo=UTC)

    compact = statement("completed", timestamp="20260302T101500.25+0100", email="bo@example.com")
    response = client.post("/xapi/statements", json=compact, headers=basic(tenant.live_key))
    assert response.status_code == 200, response.text
    event = event_of(database, compact["id"])
    assert event is not None
    assert event.occurred_at == datetime(2026, 3, 2, 9, 15, 0, 250000, tzinfo=UTC)
    # What the client sent is what it reads back.
    got = client.get(
        "/xapi/statements", params={"statementId": compact["id"]}, headers=basic(tenant.live_key)
    )
    assert got.status_code == 200, got.text
    assert got.json()["timestamp"] == "20260302T101500.25+0100"


def test_xapi_2_0_requires_the_zone(client: TestClient, tenant: Tenant) -> None:
    naive = statement("completed", timestamp="2026-03-01T14:05:00")
    response = client.post("/xapi/statements", json=naive, headers=_two(tenant.live_key))
    assert response.status_code == 400, response.text
    assert response.headers["X-Experience-API-Version"] == "2.0.0"
    assert response.json()["detail"] == [
        {
            "field": "timestamp",
            "message": "must carry a timezone offset (xAPI 2.0): add Z or +hh:mm",
        }
    ]
    # A statement that declares 2.0 is held to 2.0, whatever the header says.
    declared = statement("completed", timestamp="2026-03-01T14:05:00", version="2.0.0")
    response = client.post("/xapi/statements", json=declared, headers=basic(tenant.live_key))
    assert response.status_code == 400, response.text
    assert [d["field"] for d in response.json()["detail"]] == ["timestamp"]


def test_what_is_not_iso_8601_is_refused_under_every_version() -> None:
    for bad in ("2026-03-01 14:05:00Z", "2026-03-01", "01/03/2026 14:05", "2026-0301T1405Z"):
        problems = check_statement(statement(timestamp=bad), version="1.0.3")
        assert [(p.field, p.message) for p in problems] == [
            ("timestamp", "must be an ISO 8601 date and time (extended or basic form)")
        ], bad
    for good in (
        "2026-03-01T14:05Z",
        "2026-03-01t14:05:00.5z",
        "20260301T1405",
        "2026-03-01T14:05",
    ):
        assert check_statement(statement(timestamp=good), version="1.0.3") == [], good


def test_a_clock_running_ahead_stores_the_lrs_time(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant)
    before = utcnow()
    ahead = (before + timedelta(hours=3)).isoformat()
    skewed = statement("completed", timestamp=ahead)
    on_time = statement("completed", timestamp=before.isoformat(), email="bo@example.com")
    response = client.post(
        "/xapi/statements", json=[skewed, on_time], headers=basic(tenant.live_key)
    )
    assert response.status_code == 200, response.text
    event = event_of(database, skewed["id"])
    assert event is not None
    assert before <= event.occurred_at <= utcnow()
    assert [r["state"] for r in rewards_of(client, tenant, event)] == ["ready"]
    note = _stored(database, skewed["id"]).note
    assert (
        note == f"completed (timestamp {ahead} is ahead of the LRS clock: the stored time is used)"
    )
    assert event_of(database, on_time["id"]) is not None


def test_a_finished_attempt_that_did_not_succeed_is_a_failure(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant)
    result = {"completion": True, "success": False, "score": {"scaled": 0.4}}
    finished = statement("completed", timestamp=utcnow().isoformat(), result=result)
    passed = statement("passed", timestamp=utcnow().isoformat(), result=result, email="b@x.com")
    response = client.post(
        "/xapi/statements", json=[finished, passed], headers=basic(tenant.live_key)
    )
    assert response.status_code == 200, response.text
    for body, verb in ((finished, "completed"), (passed, "passed")):
        event = event_of(database, body["id"])
        assert event is not None
        assert (event.outcome, event.score) == ("failed", 0.4)
        assert rewards_of(client, tenant, event) == []
        assert _stored(database, body["id"]).note == f"{verb} with result.success false"


def test_a_voiding_statement_may_arrive_before_its_target(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant)
    headers = basic(tenant.live_key)
    target = statement("passed", timestamp=utcnow().isoformat())
    # The reference in upper case, as some clients write UUIDs.
    void = voiding(target["id"].upper())
    assert client.post("/xapi/statements", json=void, headers=headers).status_code == 200
    response = client.post("/xapi/statements", json=target, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == [target["id"]]
    assert event_of(database, target["id"]) is None  # never a completion: nothing to pay
    stored = _stored(database, target["id"])
    assert stored.voided
    assert stored.note == f"voided on arrival: voiding statement {void['id']} was stored before it"
    live = client.get("/xapi/statements", params={"statementId": target["id"]}, headers=headers)
    assert live.status_code == 404
    voided = client.get(
        "/xapi/statements", params={"voidedStatementId": target["id"]}, headers=headers
    )
    assert voided.status_code == 200, voided.text
    assert voided.json()["id"] == target["id"]
    with database.sessionmaker() as session:
        entries = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "xapi:statement:void", AuditEntry.target_id == target["id"]
            )
        )
        assert [e.details for e in entries] == [
            {"voided": target["id"], "voiding": void["id"], "result": "unknown statement"},
            {"voided": target["id"], "voiding": void["id"], "result": "voided on arrival"},
        ]
    # A replay of the target stays a replay: still voided, still unpaid.
    assert client.post("/xapi/statements", json=target, headers=headers).status_code == 200
    assert event_of(database, target["id"]) is None
