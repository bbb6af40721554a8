"""SAP Litmos achievement.earned."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from laurel.db import Database
from tests.conftest import Tenant
from tests.events.connectors.support import accepted_event, add_secret, post, recent, stored


def achievement(result: str = "Completed", event_id: int = 981234) -> dict[str, Any]:
    return {
        "id": event_id,
        "created": recent().isoformat().replace("+00:00", "Z"),
        "type": "achievement.earned",
        "object": "event",
        "data": {
            "userId": "aB3xYz9QwE41",
            "userName": "ana@example.com",
            "firstName": "Ana",
            "lastName": "Díaz",
            "courseId": "kT8pLm2NzQ01",
            "title": "Security Awareness 2026",
            "code": "SEC-101",
            "achievementDate": recent().isoformat().replace("+00:00", "Z"),
            "compliantTilldate": None,
            "result": result,
            "type": "Course Completed",
            "achievementId": 5521,
            "certificateId": "cert-77",
        },
    }


def test_achievement_earned(client: TestClient, tenant: Tenant, database: Database) -> None:
    secret = add_secret(client, tenant, "litmos")["secret"]
    response = post(client, tenant, "litmos", achievement(), query={"token": secret})
    event = stored(database, accepted_event(response))
    assert (event.learner, event.course, event.outcome) == (
        "aB3xYz9QwE41",
        "kT8pLm2NzQ01",
        "completed",
    )
    assert event.source_event_id == "981234"
    assert (event.learner_email, event.learner_name) == ("ana@example.com", "Ana Díaz")
    # The secret in the URL is not kept anywhere in the answer.
    assert secret not in response.text


def test_course_code_mapping_and_other_events(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "litmos")["secret"]
    client.put(
        "/api/v1/connectors/litmos/mapping", json={"course_id": "code"}, headers=tenant.headers
    )
    event = stored(
        database,
        accepted_event(post(client, tenant, "litmos", achievement(), query={"token": secret})),
    )
    assert event.course == "SEC-101"
    session = {"id": 5, "type": "session.created", "data": {}}
    ignored = post(client, tenant, "litmos", session, query={"token": secret})
    assert ignored.json()["ignored"] == 1
