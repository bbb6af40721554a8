"""Docebo course.enrollment.completed, single and grouped."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

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


def _payload(user: int = 12345, course: int = 88, when: str | None = None) -> dict[str, Any]:
    stamp = when or recent().strftime("%Y-%m-%d %H:%M:%S")
    return {
        "fired_at": stamp,
        "user_id": user,
        "username": "ana.diaz",
        "course_id": course,
        "course_name": "Security Awareness 2026",
        "completion_date": stamp,
        "enrollment_date": "2026-01-10 08:00:00",
        "level": "student",
        "status": "completed",
        "subscribed_by_id": 1,
    }


def completed(**payload: Any) -> dict[str, Any]:
    return {
        "message_id": "wh-20261126-101500-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
        "webhook_id": 7,
        "original_domain": "acme.docebosaas.com",
        "event": "course.enrollment.completed",
        "fired_by_batch_action": False,
        "payload": _payload(**payload),
    }


def grouped(users: list[int]) -> dict[str, Any]:
    body = completed()
    del body["payload"]
    body["payloads"] = [_payload(user=u) for u in users]
    return body


def _basic(secret: str) -> dict[str, str]:
    import base64

    return {"Authorization": "Basic " + base64.b64encode(f"acme:{secret}".encode()).decode()}


def test_single_and_grouped(client: TestClient, tenant: Tenant, database: Database) -> None:
    secret = add_secret(client, tenant, "docebo")["secret"]
    body = completed()
    event = stored(
        database, accepted_event(post(client, tenant, "docebo", body, headers=_basic(secret)))
    )
    assert (event.learner, event.course, event.outcome) == ("12345", "88", "completed")
    assert event.source_event_id == body["message_id"]
    assert event.course_title == "Security Awareness 2026"
    assert event.occurred_at.strftime("%Y-%m-%d %H:%M:%S") == body["payload"]["completion_date"]

    many = post(client, tenant, "docebo", grouped([1, 2, 3]), headers=_basic(secret))
    assert many.json()["accepted"] == 3
    ids = [stored(database, r["event_id"]).source_event_id for r in many.json()["results"]]
    assert ids == [f"{body['message_id']}#{i}" for i in range(3)]


def test_local_times_read_in_the_configured_zone(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "docebo")["secret"]
    set_mapping(client, tenant, "docebo", timezone="America/New_York")
    moment = recent()
    local = moment.astimezone(ZoneInfo("America/New_York"))
    body = completed(when=local.strftime("%Y-%m-%d %H:%M:%S"))
    response = post(client, tenant, "docebo", body, headers=_basic(secret))
    event = stored(database, accepted_event(response))
    assert event.occurred_at == moment


def test_bad_date_is_a_dead_letter_naming_the_docebo_field(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "docebo")["secret"]
    body = completed(when="yesterday-ish")
    response = post(client, tenant, "docebo", body, headers=_basic(secret))
    assert response.status_code == 202
    assert response.json()["results"][0] == {
        "status": "dead_letter",
        "index": 0,
        "field": "payload.completion_date",
        "message": "no readable time",
    }


def test_one_unreadable_entry_in_a_group_does_not_sink_the_others(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "docebo")["secret"]
    body = grouped([1, 2])
    body["payloads"].append("not an enrollment")
    response = post(client, tenant, "docebo", body, headers=_basic(secret))
    assert response.status_code == 202
    assert response.json()["accepted"] == 2
    assert response.json()["results"][2] == {
        "status": "dead_letter",
        "index": 2,
        "field": "payloads[2]",
        "message": "not a JSON object",
    }
    assert response.json()["dead_letter_id"] is not None
    assert count_events(database) == 2


def test_a_completed_event_with_another_status_is_kept_not_dropped(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "docebo")["secret"]
    body = completed()
    body["payload"]["status"] = "in_progress"
    response = post(client, tenant, "docebo", body, headers=_basic(secret))
    assert response.status_code == 202
    result = response.json()["results"][0]
    assert (result["status"], result["field"]) == ("dead_letter", "payload.status")
    assert "'in_progress'" in result["message"]
    assert count_events(database) == 0
    assert count_dead_letters(database) == 1


def test_signature_is_checked_over_the_raw_body_and_a_bad_one_stores_nothing(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "docebo")["secret"]
    body = completed()
    body["payload"]["username"] = "zoë.ñúñez"
    body["payload"]["course_name"] = "Sécurité 2026 — 安全"
    raw = json.dumps(body, ensure_ascii=False).encode()
    forged = raw.replace(b'"user_id": 12345', b'"user_id": 666')
    wrong = post(
        client, tenant, "docebo", forged, headers={"X-Docebo-Signature": sign(raw, secret)}
    )
    assert wrong.status_code == 401
    assert (count_events(database), count_dead_letters(database)) == (0, 0)
    good = post(client, tenant, "docebo", raw, headers={"X-Docebo-Signature": sign(raw, secret)})
    event = stored(database, accepted_event(good))
    assert (event.learner, event.learner_name) == ("12345", "zoë.ñúñez")
    assert event.course_title == "Sécurité 2026 — 安全"
