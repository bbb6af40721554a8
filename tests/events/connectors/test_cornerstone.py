"""Cornerstone Edge webhooks: Training Completion records."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta, timezone
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

API_KEY = "csod-endpoint-key-0123456789abcdef"


def record(
    event_id: str = "5b7f0d7e-3f0a-4c55-9a53-1f2e3d4c5b6a", case: str = "TrainingCompleted"
) -> dict[str, Any]:
    return {
        "lag": 1.2,
        "value": {
            "headers": {
                "messageId": event_id,
                "correlationId": "0c9f8e7d-6b5a-4c3d-2e1f-0a9b8c7d6e5f",
                "actorId": 10,
                "corpName": "acme",
                "cloudCorpId": "acme-prod",
                "cultureId": 1,
                "cultureName": "en-US",
                "timestamp": recent().isoformat(),
            },
            "lmsEventsCase": case,
            "trainingCompleted": {
                "data": {
                    "eventId": event_id,
                    "targetUserId": 4411,
                    "targetUserRef": "E1001",
                    "targetUsername": "ana.diaz",
                    "targetUserGuid": "9d8c7b6a-5f4e-3d2c-1b0a-998877665544",
                    "trainingId": "a1b2c3d4-e5f6-4a5b-8c9d-0e1f2a3b4c5d",
                    "trainingRef": "SEC-101",
                    "trainingTitle": "Security Awareness 2026",
                    "providerId": "11111111-2222-3333-4444-555555555555",
                    "transcriptUrl": "https://acme.csod.com/transcript/4411",
                    "createdByUserId": 10,
                }
            },
        },
    }


def delivery(*records: dict[str, Any]) -> dict[str, Any]:
    return {"records": list(records) or [record()]}


def test_training_completed(client: TestClient, tenant: Tenant, database: Database) -> None:
    add_secret(client, tenant, "cornerstone", secret=API_KEY)
    body = delivery(
        record(), record("6c8f0d7e-3f0a-4c55-9a53-1f2e3d4c5b6a", case="TrainingAssigned")
    )
    response = post(client, tenant, "cornerstone", body, headers={"x-api-key": API_KEY})
    assert response.json()["accepted"] == 1
    assert response.json()["ignored"] == 1
    event = stored(database, accepted_event(response))
    assert (event.learner, event.course, event.outcome) == (
        "E1001",
        "a1b2c3d4-e5f6-4a5b-8c9d-0e1f2a3b4c5d",
        "completed",
    )
    assert event.source_event_id == "5b7f0d7e-3f0a-4c55-9a53-1f2e3d4c5b6a"
    assert event.course_title == "Security Awareness 2026"


def test_verification_ping_and_unreadable_delivery(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    add_secret(client, tenant, "cornerstone", secret=API_KEY)
    ping = post(client, tenant, "cornerstone", b"", headers={"x-api-key": API_KEY})
    assert ping.status_code == 200
    assert ping.json()["dead_letter_id"] is None
    bad = post(client, tenant, "cornerstone", {"data": []}, headers={"x-api-key": API_KEY})
    assert bad.status_code == 202
    letter = client.get(
        f"/api/v1/dead-letters/{bad.json()['dead_letter_id']}", headers=tenant.headers
    )
    assert letter.json()["reason"] == "unreadable_body"
    assert (
        letter.json()["message"]
        == "(body): expected an Edge delivery: an object with a records array"
    )
    # The API key header is a credential: not kept on the dead letter.
    assert "x-api-key" not in letter.json()["headers"]


def documented_delivery(event_id: str, completed_at: str) -> dict[str, Any]:
    """The shape of csod.dev's "Event Payload Samples" (Training Events), with our own values:
    no completion date but ``trainingActionDateTimestamp``, the record's ``timestamp`` beside
    ``value``, and the delivery's ``sessionId`` / ``attemptNumber`` / ``subscriptionId``."""
    return {
        "records": [
            {
                "lag": 12.5,
                "value": {
                    "headers": {
                        "actorId": 501,
                        "corpName": "acme",
                        "cultureId": 0,
                        "messageId": event_id,
                        "cloudCorpId": "acmeprod",
                        "cultureName": "",
                        "correlationId": "00000000-0000-0000-0000-000000000000",
                    },
                    "lmsEventsCase": "TrainingCompleted",
                    "trainingCompleted": {
                        "data": {
                            "eventId": event_id,
                            "providerId": "3f6c2f70-0b5e-4a8e-9d51-6a1f0e2b7c11",
                            "trainingId": "b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e",
                            "trainingRef": "B2C3D4E5-F6A7-4B8C-9D0E-1F2A3B4C5D6E",
                            "targetUserId": 501,
                            "targetUserRef": "E2002",
                            "trainingTitle": "Data Privacy Basics",
                            "transcriptUrl": "https://acme.csod.com/transcript/501",
                            "targetUserGuid": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
                            "targetUsername": "bo.lind",
                            "createdByUserId": 501,
                            "createdByUserRef": "E2002",
                            "dueDateTimestamp": "2026-12-31T23:59:00Z",
                            "targetUserLastName": "Lind",
                            "targetUserFirstName": "Bo",
                            "targetUserDivisionRef": "DIV-7",
                            "targetUserLocationRef": "LOC-3",
                            "isStandaloneOnTranscript": True,
                            "trainingRegistrationNumber": 1,
                            "trainingActionDateTimestamp": completed_at,
                        }
                    },
                },
                "offset": 42,
                "timestamp": recent().isoformat(),
                "correlationId": "00000000-0000-0000-0000-000000000000",
            }
        ],
        "sessionId": "7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
        "attemptNumber": 1,
        "subscriptionId": "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b",
    }


def test_documented_delivery_shape_and_gzip_encoding(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    add_secret(client, tenant, "cornerstone", secret=API_KEY)
    completed_at = (recent() - timedelta(minutes=5)).replace(microsecond=0)
    event_id = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
    raw = json.dumps(documented_delivery(event_id, completed_at.isoformat())).encode()
    response = post(
        client,
        tenant,
        "cornerstone",
        gzip.compress(raw),
        headers={"x-api-key": API_KEY, "content-encoding": "gzip"},
    )
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 1
    event = stored(database, accepted_event(response))
    assert event.source_event_id == event_id
    assert (event.learner, event.course) == ("E2002", "b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e")
    assert event.occurred_at == completed_at
    assert event.course_title == "Data Privacy Basics"
    # The same delivery again (Cornerstone retries up to its tier's count) is a replay.
    again = post(client, tenant, "cornerstone", raw, headers={"x-api-key": API_KEY})
    assert (again.json()["accepted"], again.json()["replayed"]) == (0, 1)
    wrong = post(client, tenant, "cornerstone", raw, headers={"x-api-key": "not-the-key"})
    assert wrong.status_code == 401


def test_broken_gzip_is_a_dead_letter_and_inflated_bodies_are_kept_readable(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    add_secret(client, tenant, "cornerstone", secret=API_KEY)
    headers = {"x-api-key": API_KEY, "content-encoding": "gzip"}
    broken = post(client, tenant, "cornerstone", b"\x1f\x8b\x08garbage", headers=headers)
    assert broken.status_code == 202
    letter = client.get(
        f"/api/v1/dead-letters/{broken.json()['dead_letter_id']}", headers=tenant.headers
    ).json()
    assert "cannot be inflated" in letter["message"]
    # A delivery that inflates but does not map is kept inflated, so it can be read and replayed.
    unmapped = delivery(record())
    del unmapped["records"][0]["value"]["trainingCompleted"]["data"]["targetUserRef"]
    kept = post(
        client, tenant, "cornerstone", gzip.compress(json.dumps(unmapped).encode()), headers=headers
    )
    letter = client.get(
        f"/api/v1/dead-letters/{kept.json()['dead_letter_id']}", headers=tenant.headers
    ).json()
    assert json.loads(letter["body"]) == unmapped
    assert count_events(database) == 0


def test_offsets_long_fractions_unicode_and_a_record_repeated_in_one_delivery(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    add_secret(client, tenant, "cornerstone", secret=API_KEY)
    moment = recent() - timedelta(minutes=1)
    india = moment.astimezone(timezone(timedelta(hours=5, minutes=30)))
    event_id = "7e6d5c4b-3a29-4817-8f6e-5d4c3b2a1908"
    completion = documented_delivery(event_id, india.strftime("%Y-%m-%dT%H:%M:%S.1234567+05:30"))
    data = completion["records"][0]["value"]["trainingCompleted"]["data"]
    data["trainingTitle"] = "Éthique et conformité — 倫理"
    data["targetUserFirstName"], data["targetUserLastName"] = "Zoë", "Ångström"
    employee = {"value": {"headers": {"messageId": "e-1"}, "employeeCreated": {"employeeId": 7}}}
    # Edge delivers at least once: the same record may come twice in one delivery.
    completion["records"] += [completion["records"][0], employee]
    response = post(client, tenant, "cornerstone", completion, headers={"x-api-key": API_KEY})
    body = response.json()
    assert (body["accepted"], body["replayed"], body["ignored"]) == (1, 1, 1)
    assert body["results"][2]["reason"] == "employeeCreated is not TrainingCompleted"
    event = stored(database, accepted_event(response))
    assert abs((event.occurred_at - moment).total_seconds() - 0.123456) < 1e-3
    assert (event.course_title, event.learner_name) == (
        "Éthique et conformité — 倫理",
        "Zoë Ångström",
    )
    assert count_events(database) == 1
