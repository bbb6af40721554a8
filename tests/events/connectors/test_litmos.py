"""SAP Litmos achievement.earned."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from laurel.db import Database
from tests.conftest import Tenant
from tests.events.connectors.support import (
    accepted_event,
    add_secret,
    count_events,
    post,
    recent,
    stored,
)


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


def test_the_documented_sample_payload(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    """Litmos's "Webhooks Payload" sample: UTC times written without a zone, with
    milliseconds, and a user name that is not an e-mail."""
    secret = add_secret(client, tenant, "litmos")["secret"]
    earned = recent() - timedelta(seconds=44)
    body = {
        "id": 4513,
        "created": (earned + timedelta(seconds=40)).strftime("%Y-%m-%dT%H:%M:%S.533"),
        "type": "achievement.earned",
        "object": "event",
        "data": {
            "userId": "yj-nr8PhW8o1",
            "userName": "sample",
            "courseId": "nAcqwEA8jUo1",
            "title": "Course Demo",
            "code": "",
            "achievementDate": earned.strftime("%Y-%m-%dT%H:%M:%S.990"),
            "compliantTilldate": None,
            "result": "Completed",
            "type": "Course Completed",
            "firstName": "Sample",
            "lastName": "User",
            "achievementId": 368800,
            "certificateId": "biZrK8ab0LE1",
        },
    }
    event = stored(
        database, accepted_event(post(client, tenant, "litmos", body, query={"token": secret}))
    )
    assert event.occurred_at == earned + timedelta(milliseconds=990)
    assert (event.learner, event.course, event.course_title) == (
        "yj-nr8PhW8o1",
        "nAcqwEA8jUo1",
        "Course Demo",
    )
    assert (event.learner_email, event.learner_name) == (None, "Sample User")


def test_a_user_name_with_an_at_sign_that_is_no_email_does_not_hold_up_the_completion(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "litmos")["secret"]
    body = achievement()
    body["data"]["userName"] = "ana@acme"
    event = stored(
        database, accepted_event(post(client, tenant, "litmos", body, query={"token": secret}))
    )
    assert (event.learner, event.learner_email) == ("aB3xYz9QwE41", None)


def test_a_results_option_that_is_not_a_table_is_refused_when_set(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "litmos")["secret"]
    for results in (["Completed"], {"Completed": "done"}):
        response = client.put(
            "/api/v1/connectors/litmos/mapping",
            json={"options": {"results": results}},
            headers=tenant.headers,
        )
        assert response.status_code == 422, response.text
        assert "options.results" in response.text
    accepted_event(post(client, tenant, "litmos", achievement(), query={"token": secret}))
    assert count_events(database) == 1
