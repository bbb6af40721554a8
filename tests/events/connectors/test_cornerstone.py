"""Cornerstone Edge webhooks: Training Completion records."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from laurel.db import Database
from tests.conftest import Tenant
from tests.events.connectors.support import accepted_event, add_secret, post, recent, stored

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
