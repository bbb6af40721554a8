"""cmi5: moveOn from the launched statement, masteryScore, and allowed statements ignored."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from laurel.db import Database
from laurel.events.connectors.xapi.models import XapiStatement
from laurel.kit.clock import utcnow
from tests.conftest import Tenant
from tests.events.connectors.xapi.support import basic, fixture
from tests.factories import fixed_program, table_counts

MOVE_ON = "https://w3id.org/xapi/cmi5/context/extensions/moveon"
CATEGORY = "https://w3id.org/xapi/cmi5/context/categories/cmi5"


def _session(move_on: str) -> dict[str, Any]:
    """A launched statement (from the cmi5 samples) for the AU of scenario 09, now."""
    au = fixture("cmi5", "09-completed_and_passed--04-passed_statement.json")
    launched: dict[str, Any] = fixture(
        "cmi5", "01-typical-non_credit_session--01-launched_statement.json"
    )
    launched["id"] = str(uuid.uuid4())
    launched["object"] = au["object"]
    launched["context"]["registration"] = str(uuid.uuid4())
    launched["context"]["extensions"][MOVE_ON] = move_on
    launched["timestamp"] = utcnow().isoformat()
    return launched


def _au(name: str, launched: dict[str, Any], **result: Any) -> dict[str, Any]:
    body: dict[str, Any] = copy.deepcopy(fixture("cmi5", name))
    body["id"] = str(uuid.uuid4())
    body["context"]["registration"] = launched["context"]["registration"]
    body["timestamp"] = utcnow().isoformat()
    if result:
        body["result"] = {**body.get("result", {}), **result}
    return body


def _allowed(body: dict[str, Any]) -> dict[str, Any]:
    """The same statement without the cmi5 category: a cmi5 allowed statement."""
    allowed = copy.deepcopy(body)
    allowed["id"] = str(uuid.uuid4())
    categories = allowed["context"]["contextActivities"]["category"]
    allowed["context"]["contextActivities"]["category"] = [
        c for c in categories if c["id"] != CATEGORY
    ]
    return allowed


def _outcomes(database: Database, bodies: list[dict[str, Any]]) -> list[str | None]:
    with database.sessionmaker() as session:
        rows = {
            str(r.statement_id): r.outcome for r in session.scalars(select(XapiStatement)).all()
        }
    return [rows[b["id"]] for b in bodies]


def test_completed_and_passed_counts_when_both_arrive(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant)
    launched = _session("CompletedAndPassed")
    passed = _au("09-completed_and_passed--04-passed_statement.json", launched)
    allowed_completed = _allowed(
        _au("09-completed_and_passed--05-completed_statement.json", launched)
    )
    completed = _au("09-completed_and_passed--05-completed_statement.json", launched)
    headers = basic(tenant.live_key)
    # launched and passed in one request, the rest one by one: progress spans requests.
    assert (
        client.post("/xapi/statements", json=[launched, passed], headers=headers).status_code == 200
    )
    assert (
        client.post("/xapi/statements", json=allowed_completed, headers=headers).status_code == 200
    )
    assert _outcomes(database, [launched, passed, allowed_completed]) == [
        "in_progress",
        "in_progress",
        "in_progress",
    ]
    assert client.post("/xapi/statements", json=completed, headers=headers).status_code == 200
    assert _outcomes(database, [completed]) == ["completed"]
    rewards = client.get("/api/v1/rewards", headers=tenant.headers).json()["data"]
    assert [r["state"] for r in rewards] == ["ready"]


def test_allowed_statements_never_drive_move_on(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant)
    launched = _session("Passed")
    allowed_passed = _allowed(_au("09-completed_and_passed--04-passed_statement.json", launched))
    headers = basic(tenant.live_key)
    response = client.post("/xapi/statements", json=[launched, allowed_passed], headers=headers)
    assert response.status_code == 200, response.text
    assert _outcomes(database, [allowed_passed]) == ["in_progress"]
    assert client.get("/api/v1/rewards", headers=tenant.headers).json()["data"] == []
    defined = _au("09-completed_and_passed--04-passed_statement.json", launched)
    assert client.post("/xapi/statements", json=defined, headers=headers).status_code == 200
    assert _outcomes(database, [defined]) == ["passed"]


def test_completed_or_passed_after_a_failure(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    launched = _session("CompletedOrPassed")
    failed = _au("05-completed_or_passed-failed_completed--04-failed_statement.json", launched)
    completed = _au(
        "05-completed_or_passed-failed_completed--05-completed_statement.json", launched
    )
    failed["object"] = completed["object"] = launched["object"]
    body = [launched, failed, completed]
    assert (
        client.post("/xapi/statements", json=body, headers=basic(tenant.live_key)).status_code
        == 200
    )
    assert _outcomes(database, body) == ["in_progress", "failed", "completed"]


def test_mastery_score_is_enforced(client: TestClient, tenant: Tenant, database: Database) -> None:
    before = table_counts(database)
    launched = _session("Passed")
    low_pass = _au(
        "11-masteryScore-failed_first--05-passed_statement.json",
        launched,
        score={"scaled": 0.8, "raw": 80, "min": 0, "max": 100},
    )
    high_fail = _au(
        "11-masteryScore-failed_first--04-failed_statement.json",
        launched,
        score={"scaled": 0.9, "raw": 90, "min": 0, "max": 100},
    )
    response = client.post(
        "/xapi/statements", json=[launched, low_pass, high_fail], headers=basic(tenant.live_key)
    )
    assert response.status_code == 400
    assert response.json()["detail"] == [
        {
            "statement": 1,
            "field": "result.score.scaled",
            "message": "cmi5: passed with score.scaled 0.8 below the masteryScore 0.86",
        },
        {
            "statement": 2,
            "field": "result.score.scaled",
            "message": "cmi5: failed with score.scaled 0.9 at or above the masteryScore 0.86",
        },
    ]
    assert table_counts(database) == before
