"""Health, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from laurel.db import Database
from tests.conftest import Tenant, completion
from tests.factories import fixed_program


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def test_metrics_report_events_rewards_and_latency(client: TestClient, tenant: Tenant) -> None:
    fixed_program(client, tenant)
    client.post("/api/v1/completions", json=completion("e-1"), headers=tenant.headers)
    client.post("/api/v1/completions", json=completion("e-2", learner="B"), headers=tenant.headers)
    client.app.state.worker.run_once()  # type: ignore[attr-defined]
    text = client.get("/metrics").text
    assert 'laurel_events_received_total{mode="live",outcome="passed",source="api"}' in text
    assert 'laurel_rewards{mode="live",state="delivered"} 2.0' in text
    assert "laurel_worker_queue_depth 0.0" in text
    assert 'laurel_event_to_delivered_seconds_count{mode="live"}' in text


def test_openapi_documents_every_route_and_errors(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in [
        "/api/v1/completions",
        "/api/v1/completions/batch",
        "/api/v1/rewards",
        "/api/v1/rewards/{reward_id}",
        "/api/v1/events/{event_id}",
        "/api/v1/programs",
        "/api/v1/programs/{program_id}/rules",
        "/api/v1/rules/{rule_id}",
        "/api/v1/learners",
        "/api/v1/courses",
        "/api/v1/api-keys",
        "/healthz",
        "/readyz",
        "/metrics",
    ]:
        assert path in paths, path
    post = paths["/api/v1/completions"]["post"]
    assert {"200", "202", "401", "403", "409", "422"} <= set(post["responses"])
    assert client.get("/docs").status_code == 200


def test_read_only_unit_of_work_refuses_writes(database: Database, tenant: Tenant) -> None:
    from sqlalchemy import update

    from laurel.db import ReadOnlySessionError
    from laurel.organizations.models import Organization

    with database.read_session() as session, pytest.raises(ReadOnlySessionError):
        session.execute(update(Organization).values(name="x"))
    with database.read_session() as session:
        org = session.get_one(Organization, tenant.id)
        org.name = "changed"
        with pytest.raises(ReadOnlySessionError):
            session.flush()
