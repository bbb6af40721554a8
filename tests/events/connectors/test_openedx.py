"""Open edX signals as openedx-events serialises them, signed with X-Laurel-Signature."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from laurel.db import Database
from laurel.events.connectors.openedx import PASSING
from laurel.events.connectors.verify import sign
from tests.conftest import Tenant
from tests.events.connectors.support import (
    accepted_event,
    add_secret,
    count_events,
    post,
    recent,
    stored,
)

COURSE = "course-v1:LaurelX+SEC101+2026"


def _user() -> dict[str, Any]:
    return {
        "id": 311,
        "is_active": True,
        "pii": {"username": "ana", "email": "ana@example.com", "name": "Ana Díaz"},
    }


def passing(
    *, is_passing: bool = True, event_id: str | None = "2f9b6a3e-8c1d-11ee-b9d1-0242ac120002"
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "event_type": "org.openedx.learning.course.passing.status.updated.v1",
        "minorversion": 0,
        "source": "openedx/lms/web",
        "sourcehost": "lms.example.edu",
        "time": recent().isoformat(),
        "sourcelib": [9, 5, 1],
    }
    if event_id is not None:
        metadata["id"] = event_id
    return {
        "metadata": metadata,
        "course_passing_status": {
            "is_passing": is_passing,
            "user": _user(),
            "course": {"course_key": COURSE, "display_name": "", "start": None, "end": None},
        },
    }


def certificate(status: str = "downloadable", grade: str = "0.87") -> dict[str, Any]:
    return {
        "metadata": {
            "id": "7a1c2b9e-8c1d-11ee-b9d1-0242ac120002",
            "event_type": "org.openedx.learning.certificate.created.v1",
            "source": "openedx/lms/web",
            "sourcehost": "lms.example.edu",
            "time": recent().isoformat(),
        },
        "certificate": {
            "user": _user(),
            "course": {"course_key": COURSE},
            "mode": "verified",
            "grade": grade,
            "current_status": status,
            "previous_status": "",
            "download_url": "https://lms.example.edu/certificates/abc",
            "name": "Ana Díaz",
        },
    }


def send(client: TestClient, tenant: Tenant, secret: str, body: Any) -> Any:
    raw = json.dumps(body).encode()
    return post(client, tenant, "openedx", raw, headers={"X-Laurel-Signature": sign(raw, secret)})


def test_passing_status_and_certificate(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "openedx")["secret"]
    body = passing()
    event = stored(database, accepted_event(send(client, tenant, secret, body)))
    assert (event.learner, event.course, event.outcome) == ("311", COURSE, "passed")
    assert event.source_event_id == "2f9b6a3e-8c1d-11ee-b9d1-0242ac120002"
    assert event.learner_email == "ana@example.com"
    assert event.occurred_at.isoformat() == body["metadata"]["time"]

    cert = stored(database, accepted_event(send(client, tenant, secret, certificate())))
    assert (cert.outcome, cert.score) == ("passed", 0.87)
    assert cert.learner_name == "Ana Díaz"


def test_not_passing_is_progress_and_unearned_certificates_are_ignored(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "openedx")["secret"]
    event = stored(
        database,
        accepted_event(send(client, tenant, secret, passing(is_passing=False, event_id="x-1"))),
    )
    assert event.outcome == "in_progress"
    response = send(client, tenant, secret, certificate(status="notpassing"))
    assert response.json()["ignored"] == 1
    assert count_events(database) == 1


def test_without_metadata_id_the_derived_id_recognises_retries(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "openedx")["secret"]
    body = passing(event_id=None)
    first = accepted_event(send(client, tenant, secret, body))
    assert stored(database, first).source_event_id.startswith("openedx:derived:")
    again = send(client, tenant, secret, body)
    assert again.json()["replayed"] == 1
    assert again.json()["results"][0]["event_id"] == first


def test_learner_id_choice_and_missing_data(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "openedx")["secret"]
    response = client.put(
        "/api/v1/connectors/openedx/mapping", json={"learner_id": "email"}, headers=tenant.headers
    )
    assert response.status_code == 200
    event = stored(database, accepted_event(send(client, tenant, secret, passing())))
    assert event.learner == "ana@example.com"

    broken = passing(event_id="x-2")
    del broken["course_passing_status"]
    letter = send(client, tenant, secret, broken).json()
    assert letter["dead_letter_id"] is not None
    assert letter["results"][0]["field"] == "course_passing_status"


def test_event_bus_message_with_its_metadata_in_headers(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    """An event-bus consumer forwards the signal's data as the body and its metadata as the
    message's CloudEvents headers."""
    secret = add_secret(client, tenant, "openedx")["secret"]
    body = passing()
    when = body.pop("metadata")["time"]
    raw = json.dumps(body).encode()
    headers = {
        "X-Laurel-Signature": sign(raw, secret),
        "ce-type": PASSING,
        "ce-id": "b0a1c2d3-0000-11ee-b9d1-0242ac120002",
        "ce-time": when,
    }
    event = stored(database, accepted_event(post(client, tenant, "openedx", raw, headers=headers)))
    assert (event.learner, event.course, event.outcome) == ("311", COURSE, "passed")
    assert event.source_event_id == "b0a1c2d3-0000-11ee-b9d1-0242ac120002"
    assert event.occurred_at.isoformat() == when

    # No metadata and no headers: the one data key says which signal it is, and without a
    # time it is kept as a dead letter naming what is missing.
    bare = certificate()
    del bare["metadata"]
    answer = send(client, tenant, secret, bare).json()
    assert answer["results"][0]["status"] == "dead_letter", answer
    assert answer["results"][0]["field"] == "metadata.time"


def test_a_derived_id_counts_the_instant_not_how_it_is_written(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "openedx")["secret"]
    body = passing(event_id=None)
    first = accepted_event(send(client, tenant, secret, body))
    retry = json.loads(json.dumps(body))
    retry["metadata"]["time"] = body["metadata"]["time"].replace("+00:00", ".000000Z")
    again = send(client, tenant, secret, retry).json()
    assert (again["replayed"], again["results"][0]["event_id"]) == (1, first)
