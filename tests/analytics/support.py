"""Helpers shared by the analytics tests."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi.testclient import TestClient

from tests.conftest import Tenant, completion


def cohort(
    client: TestClient,
    tenant: Tenant,
    prefix: str,
    department: str,
    size: int,
    done: int,
    enrolled: datetime,
    completed: datetime | None = None,
) -> None:
    """``size`` learners of ``department`` enrolled in LIFT-1 at ``enrolled``, the first
    ``done`` of them passing it at ``completed`` (a day after enrolling by default)."""
    finished = completed if completed is not None else enrolled + timedelta(days=1)
    names = [f"{prefix}{n:03d}" for n in range(size)]
    who = {"classification": "employee", "country": "US", "department": department}
    body = {
        "enrolments": [
            {
                "learner": {"external_id": name, **who},
                "course": {"external_id": "LIFT-1", "type": "compliance"},
                "enrolled_at": enrolled.isoformat(),
            }
            for name in names
        ]
    }
    assert client.post("/api/v1/enrolments", json=body, headers=tenant.headers).status_code == 200
    events = []
    for name in names[:done]:
        event = completion(f"lift-{name}", learner=name, course="LIFT-1")
        event["occurred_at"] = finished.isoformat()
        event["learner"]["department"] = department
        events.append(event)
    if events:
        sent = client.post(
            "/api/v1/completions/batch", json={"events": events}, headers=tenant.headers
        )
        assert sent.status_code == 200, sent.text
