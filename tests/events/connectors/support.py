"""Helpers for connector tests: secrets and mapping through the real API, webhook posts,
and reading back what was stored."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import func, select

from laurel.courses.models import Course
from laurel.db import Database
from laurel.events.connectors.models import DeadLetter
from laurel.events.models import CompletionEvent
from laurel.kit.clock import utcnow
from laurel.learners.models import Learner
from tests.conftest import Tenant


def add_secret(client: TestClient, tenant: Tenant, connector: str, **body: Any) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/connectors/{connector}/secrets", json=body, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def set_mapping(client: TestClient, tenant: Tenant, connector: str, **mapping: Any) -> None:
    response = client.put(
        f"/api/v1/connectors/{connector}/mapping", json=mapping, headers=tenant.headers
    )
    assert response.status_code == 200, response.text


def post(
    client: TestClient,
    tenant: Tenant,
    connector: str,
    body: Any,
    *,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        f"/api/v1/webhooks/{connector}",
        content=raw,
        headers={"content-type": "application/json", **(headers or {})},
        params={"org": tenant.slug, **(query or {})},
    )


def recent() -> datetime:
    """A completion time of now, in whole seconds, never before a program the test just made
    (programs never pay for times before they started); within intake's clock-drift margin."""
    return utcnow().replace(microsecond=0) + timedelta(seconds=2)


@dataclass(frozen=True)
class Stored:
    source: str
    source_event_id: str
    learner: str
    learner_email: str | None
    learner_name: str | None
    course: str
    course_title: str
    outcome: str
    score: float | None
    occurred_at: datetime
    livemode: bool


def stored(database: Database, event_id: str) -> Stored:
    with database.read_session() as session:
        event, learner, course = session.execute(
            select(CompletionEvent, Learner, Course)
            .join(Learner, Learner.id == CompletionEvent.learner_id)
            .join(Course, Course.id == CompletionEvent.course_id)
            .where(CompletionEvent.id == uuid.UUID(event_id))
        ).one()
        return Stored(
            source=event.source,
            source_event_id=event.source_event_id,
            learner=learner.external_id,
            learner_email=learner.email,
            learner_name=learner.name,
            course=course.external_id,
            course_title=course.title,
            outcome=event.outcome,
            score=event.score,
            occurred_at=event.occurred_at,
            livemode=event.livemode,
        )


def count_events(database: Database) -> int:
    with database.read_session() as session:
        return session.scalar(select(func.count()).select_from(CompletionEvent)) or 0


def count_dead_letters(database: Database) -> int:
    with database.read_session() as session:
        return session.scalar(select(func.count()).select_from(DeadLetter)) or 0


def accepted_event(response: Response, index: int = 0) -> str:
    assert response.status_code == 202, response.text
    result = response.json()["results"][index]
    assert result["status"] == "accepted", result
    event_id: str = result["event_id"]
    return event_id
