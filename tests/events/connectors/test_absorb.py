"""Absorb: configurable field paths, and the dead-letter-then-configure path for real shapes."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from laurel.db import Database
from laurel.events.connectors.verify import sign
from tests.conftest import Tenant
from tests.events.connectors.support import (
    accepted_event,
    add_secret,
    count_dead_letters,
    count_events,
    post,
    recent,
    set_mapping,
    stored,
)


def completed(**extra: Any) -> dict[str, Any]:
    return {
        "id": "4c1f7e2a-2b1d-4f0e-9d8c-7b6a5f4e3d2c",
        "eventName": "Course Completed",
        "userId": "u-77",
        "emailAddress": "ana@example.com",
        "courseId": "c-15",
        "courseName": "Security Awareness 2026",
        "dateCompleted": recent().isoformat(),
        "score": 88,
        **extra,
    }


def _signed(secret: str, body: Any) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    return raw, {"X-Absorb-Signature": sign(raw, secret).removeprefix("sha256=")}


def test_default_fields(client: TestClient, tenant: Tenant, database: Database) -> None:
    secret = add_secret(client, tenant, "absorb")["secret"]
    raw, headers = _signed(secret, completed())
    event = stored(database, accepted_event(post(client, tenant, "absorb", raw, headers=headers)))
    assert (event.learner, event.course, event.outcome, event.score) == (
        "u-77",
        "c-15",
        "completed",
        0.88,
    )
    assert event.source_event_id == "4c1f7e2a-2b1d-4f0e-9d8c-7b6a5f4e3d2c"
    admin = completed(id="x-2", eventName="Enrollment Completed by Admin")
    raw, headers = _signed(secret, admin)
    accepted_event(post(client, tenant, "absorb", raw, headers=headers))
    raw, headers = _signed(secret, completed(id="x-3", eventName="User Created"))
    assert post(client, tenant, "absorb", raw, headers=headers).json()["ignored"] == 1


def test_other_shape_is_kept_then_configured_and_replayed(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "absorb")["secret"]
    other = {
        "EventType": "Course Completed",
        "Learner": {"Id": "u-9", "Email": "ben@example.com"},
        "Course": {"Id": "c-1", "Name": "Ethics"},
        "CompletedAt": recent().isoformat(),
    }
    raw, headers = _signed(secret, other)
    response = post(client, tenant, "absorb", raw, headers=headers)
    assert response.status_code == 202
    assert response.json()["results"][0]["field"] == "eventName"
    letter_id = response.json()["dead_letter_id"]

    set_mapping(
        client,
        tenant,
        "absorb",
        options={
            "fields": {
                "event": "EventType",
                "learner": "Learner.Id",
                "email": "Learner.Email",
                "course": "Course.Id",
                "course_title": "Course.Name",
                "completed_at": "CompletedAt",
            }
        },
    )
    replay = client.post(f"/api/v1/dead-letters/{letter_id}/replay", headers=tenant.headers)
    assert replay.json()["dead_letter"]["state"] == "resolved"
    event = stored(database, replay.json()["delivery"]["results"][0]["event_id"])
    assert (event.learner, event.course, event.course_title) == ("u-9", "c-1", "Ethics")
    assert event.source_event_id.startswith("absorb:derived:")
    assert count_events(database) == 1


def test_a_retry_that_writes_the_time_another_way_is_a_replay(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "absorb")["secret"]
    when = recent()
    body = completed(dateCompleted=when.isoformat().replace("+00:00", "Z"))
    del body["id"]
    raw, headers = _signed(secret, body)
    first = accepted_event(post(client, tenant, "absorb", raw, headers=headers))
    assert stored(database, first).source_event_id.startswith("absorb:derived:")
    for written in (
        when.isoformat().replace("+00:00", ".000Z"),
        when.isoformat(),
        str(int(when.timestamp() * 1000)),  # epoch milliseconds
    ):
        raw, headers = _signed(secret, {**body, "dateCompleted": written})
        again = post(client, tenant, "absorb", raw, headers=headers).json()
        assert (again["replayed"], again["results"][0]["event_id"]) == (1, first), written
    assert count_events(database) == 1


def test_event_names_are_compared_without_case_or_spacing(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "absorb")["secret"]
    for number, name in enumerate(
        ("CourseCompleted", "course_completed", "ENROLLMENT-COMPLETED-BY-ADMIN")
    ):
        raw, headers = _signed(secret, completed(id=f"n-{number}", eventName=name))
        accepted_event(post(client, tenant, "absorb", raw, headers=headers))
    assert count_events(database) == 3


def test_an_unknown_completion_event_is_kept_while_the_names_are_guessed(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "absorb")["secret"]
    raw, headers = _signed(secret, completed(eventName="Learner Completed Course"))
    response = post(client, tenant, "absorb", raw, headers=headers)
    assert response.status_code == 202
    result = response.json()["results"][0]
    assert (result["status"], result["field"]) == ("dead_letter", "eventName")
    assert "mapping.options.events" in result["message"]
    raw, headers = _signed(secret, completed(id="x-2", eventName="User Created"))
    assert post(client, tenant, "absorb", raw, headers=headers).json()["ignored"] == 1

    # Named by the organization, the list is taken as meant: other events are ignored.
    set_mapping(client, tenant, "absorb", options={"events": ["Course Completed"]})
    raw, headers = _signed(secret, completed(id="x-3", eventName="Lesson Completed"))
    assert post(client, tenant, "absorb", raw, headers=headers).json()["ignored"] == 1
    assert (count_events(database), count_dead_letters(database)) == (0, 1)


def test_a_path_that_lands_on_an_object_is_a_dead_letter_not_an_id(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "absorb")["secret"]
    raw, headers = _signed(secret, completed(courseId={"Id": "c-15", "Name": "Ethics"}))
    response = post(client, tenant, "absorb", raw, headers=headers)
    assert response.json()["results"][0] == {
        "status": "dead_letter",
        "index": 0,
        "field": "courseId",
        "message": "an object, not a value; point mapping.options.fields.course inside it",
    }
    assert count_events(database) == 0


def test_options_of_the_wrong_shape_are_refused_when_set(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "absorb")["secret"]
    for options in (
        {"fields": ["EventType"]},
        {"fields": {"learnr": "Learner.Id"}},
        # A string would be searched for substrings: "Course" would count as a completion.
        {"events": "Course Completed"},
    ):
        response = client.put(
            "/api/v1/connectors/absorb/mapping", json={"options": options}, headers=tenant.headers
        )
        assert response.status_code == 422, (options, response.text)
    raw, headers = _signed(secret, completed())
    accepted_event(post(client, tenant, "absorb", raw, headers=headers))
