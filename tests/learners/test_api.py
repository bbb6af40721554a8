"""Learners and courses managed through the API."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Tenant, completion


def test_learner_crud(client: TestClient, tenant: Tenant) -> None:
    h = tenant.headers
    created = client.post(
        "/api/v1/learners",
        headers=h,
        json={
            "external_id": "E9",
            "email": "kwame@example.com",
            "name": "Kwame Okafor",
            "classification": "contractor",
            "department": "Support",
            "country": "GH",
            "locale": "en-GH",
        },
    )
    assert created.status_code == 201, created.text
    learner = created.json()
    assert client.post("/api/v1/learners", headers=h, json={"external_id": "E9"}).status_code == 409
    changed = client.patch(
        f"/api/v1/learners/{learner['id']}", headers=h, json={"department": "Sales"}
    )
    assert changed.json()["department"] == "Sales"
    listed = client.get(
        "/api/v1/learners", headers=h, params={"classification": "contractor"}
    ).json()["data"]
    assert [x["external_id"] for x in listed] == ["E9"]
    bad = client.patch(
        f"/api/v1/learners/{learner['id']}", headers=h, json={"classification": "boss"}
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["field"] == "classification"
    assert client.delete(f"/api/v1/learners/{learner['id']}", headers=h).status_code == 204
    assert client.get(f"/api/v1/learners/{learner['id']}", headers=h).status_code == 404


def test_learner_with_history_cannot_be_deleted(client: TestClient, tenant: Tenant) -> None:
    event = client.post("/api/v1/completions", json=completion(), headers=tenant.headers).json()
    response = client.delete(f"/api/v1/learners/{event['learner_id']}", headers=tenant.headers)
    assert response.status_code == 409
    course = client.delete(f"/api/v1/courses/{event['course_id']}", headers=tenant.headers)
    assert course.status_code == 409


def test_course_crud(client: TestClient, tenant: Tenant) -> None:
    h = tenant.headers
    created = client.post(
        "/api/v1/courses",
        headers=h,
        json={
            "external_id": "CRT-1",
            "title": "Cert",
            "type": "certification",
            "duration_minutes": 240,
            "importance": "3.5",
            "tags": ["product"],
        },
    )
    assert created.status_code == 201, created.text
    course = created.json()
    bad = client.post("/api/v1/courses", headers=h, json={"external_id": "X", "importance": "9"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["field"] == "importance"
    changed = client.patch(f"/api/v1/courses/{course['id']}", headers=h, json={"tags": ["a"]})
    assert changed.json()["tags"] == ["a"]
    by_type = client.get("/api/v1/courses", headers=h, params={"type": "certification"}).json()
    assert [c["external_id"] for c in by_type["data"]] == ["CRT-1"]
    assert client.delete(f"/api/v1/courses/{course['id']}", headers=h).status_code == 204


def test_event_refreshes_learner_attributes(client: TestClient, tenant: Tenant) -> None:
    client.post("/api/v1/completions", json=completion("e-1"), headers=tenant.headers)
    moved = completion("e-2", course="OTHER")
    moved["learner"] = {"external_id": "E1001", "department": "Finance"}
    client.post("/api/v1/completions", json=moved, headers=tenant.headers)
    learner = client.get("/api/v1/learners", headers=tenant.headers).json()["data"][0]
    assert learner["department"] == "Finance"
    # Attributes the event did not carry are kept.
    assert learner["email"] == "e1001@example.com"
