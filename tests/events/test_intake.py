"""POST /api/v1/completions: idempotency, dedupe, outcomes, bad input, test mode."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from laurel.db import Database
from laurel.delivery.providers import Issued, IssueOrder, ProviderRegistry
from laurel.kit.clock import utcnow
from tests.conftest import Tenant, completion
from tests.factories import backdate_program, fixed_program, table_counts

URL = "/api/v1/completions"


def post(client: TestClient, tenant: Tenant, body: Any) -> Any:
    return client.post(URL, json=body, headers=tenant.headers)


def test_replay_returns_original_answer(client: TestClient, tenant: Tenant) -> None:
    fixed_program(client, tenant)
    first = post(client, tenant, completion("e-1"))
    again = post(client, tenant, completion("e-1") | {"occurred_at": first.json()["occurred_at"]})
    assert first.status_code == 202
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["replayed"] is True
    assert [r["id"] for r in again.json()["rewards"]] == [r["id"] for r in first.json()["rewards"]]


def test_same_id_different_body_is_conflict(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant)
    body = completion("e-1")
    assert post(client, tenant, body).status_code == 202
    before = table_counts(database)
    changed = body | {"score": 0.5}
    response = post(client, tenant, changed)
    assert response.status_code == 409
    assert response.json()["error"] == "event_id_conflict"
    assert table_counts(database) == before


def test_second_completion_of_same_course_never_pays_twice(
    client: TestClient, tenant: Tenant
) -> None:
    fixed_program(client, tenant)
    first = post(client, tenant, completion("e-1"))
    second = post(client, tenant, completion("e-2"))
    assert len(first.json()["rewards"]) == 1
    assert second.status_code == 202
    assert second.json()["rewards"] == []
    assert second.json()["decisions"][0]["result"] == "duplicate"


def test_calendar_year_dedupe_pays_again_next_year(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    program = fixed_program(client, tenant, dedupe_period="calendar_year")
    backdate_program(database, program["id"], datetime(2024, 1, 1, tzinfo=UTC))
    answers = [
        post(client, tenant, completion(f"e-{n}", occurred_at=when))
        for n, when in enumerate(
            [
                "2025-06-01T09:00:00Z",
                "2025-12-31T23:59:59Z",
                "2026-01-01T00:00:00Z",
                "2026-08-01T12:00:00+02:00",
            ]
        )
    ]
    assert [a.json()["decisions"][0]["result"] for a in answers] == [
        "rewarded",
        "duplicate",
        "rewarded",
        "duplicate",
    ]
    keys = [
        client.get(
            f"/api/v1/rewards/{a.json()['rewards'][0]['id']}", headers=tenant.headers
        ).json()["dedupe_key"]
        for a in (answers[0], answers[2])
    ]
    assert keys == ["2025", "2026"]


def test_once_dedupe_never_pays_again(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    program = fixed_program(client, tenant)
    backdate_program(database, program["id"], datetime(2024, 1, 1, tzinfo=UTC))
    first = post(client, tenant, completion("e-1", occurred_at="2025-06-01T09:00:00Z"))
    later = post(client, tenant, completion("e-2", occurred_at="2026-06-01T09:00:00Z"))
    assert first.json()["decisions"][0]["result"] == "rewarded"
    assert later.json()["decisions"][0]["result"] == "duplicate"


def test_dedupe_key_per_year_in_service(client: TestClient, tenant: Tenant) -> None:
    fixed_program(client, tenant, dedupe_period="calendar_year")
    response = post(client, tenant, completion("e-1"))
    reward = client.get(
        f"/api/v1/rewards/{response.json()['rewards'][0]['id']}", headers=tenant.headers
    ).json()
    assert reward["dedupe_key"] == str(utcnow().year)


@pytest.mark.parametrize("outcome", ["enrolled", "in_progress", "failed"])
def test_non_completions_are_stored_but_never_pay(
    client: TestClient, tenant: Tenant, outcome: str
) -> None:
    fixed_program(client, tenant)
    response = post(client, tenant, completion("e-1", outcome=outcome))
    assert response.status_code == 202
    assert response.json()["rewards"] == []
    stored = client.get(f"/api/v1/events/{response.json()['id']}", headers=tenant.headers)
    assert stored.json()["outcome"] == outcome


def test_learner_and_course_created_on_first_sight(client: TestClient, tenant: Tenant) -> None:
    post(client, tenant, completion("e-1", learner="NEW-1", course="NEW-C"))
    learners = client.get("/api/v1/learners", headers=tenant.headers).json()["data"]
    courses = client.get("/api/v1/courses", headers=tenant.headers).json()["data"]
    assert [x["external_id"] for x in learners] == ["NEW-1"]
    assert learners[0]["locale"] == "es-MX"
    assert [x["external_id"] for x in courses] == ["NEW-C"]
    assert courses[0]["type"] == "compliance"


BAD = [
    ({"score": "high"}, "score"),
    ({"score": 1.5}, "score"),
    ({"score": True}, "score"),
    ({"score": "0.9"}, "score"),
    ({"course": {"external_id": "C1", "duration_minutes": "45"}}, "course.duration_minutes"),
    ({"course": {"external_id": "C1", "duration_minutes": 4.5}}, "course.duration_minutes"),
    ({"learner": {"external_id": ["E1"]}}, "learner.external_id"),
    ({"unexpected": 1}, "unexpected"),
    ({"outcome": "finished"}, "outcome"),
    ({"occurred_at": "yesterday"}, "occurred_at"),
    ({"occurred_at": "2026-11-25T10:00:00"}, "occurred_at"),
    ({"occurred_at": "2026-02-30T10:00:00Z"}, "occurred_at"),
    ({"event_id": ""}, "event_id"),
    ({"event_id": 12}, "event_id"),
    ({"learner": {"email": "a@example.com"}}, "learner.external_id"),
    ({"learner": {"external_id": "E1", "country": "usa"}}, "learner.country"),
    ({"learner": {"external_id": "E1", "classification": "intern"}}, "learner.classification"),
    ({"learner": {"external_id": "E1", "email": "not-an-email"}}, "learner.email"),
    ({"course": {"external_id": "C1", "type": "fun"}}, "course.type"),
    ({"course": {"external_id": "C1", "duration_minutes": -5}}, "course.duration_minutes"),
    ({"amount": 12.5}, "amount"),
]


@pytest.mark.parametrize(("change", "field"), BAD)
def test_bad_input_names_the_field_and_stores_nothing(
    client: TestClient, tenant: Tenant, database: Database, change: dict[str, Any], field: str
) -> None:
    before = table_counts(database)
    response = post(client, tenant, completion("bad") | change)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "validation_error"
    assert field in [d["field"] for d in body["detail"]], body
    assert all(d["message"] for d in body["detail"])
    assert table_counts(database) == before


def test_missing_learner_reports_every_missing_field(client: TestClient, tenant: Tenant) -> None:
    body = completion()
    del body["learner"], body["outcome"]
    response = post(client, tenant, body)
    fields = {d["field"] for d in response.json()["detail"]}
    assert fields == {"learner", "outcome"}


def test_future_completion_refused(client: TestClient, tenant: Tenant, database: Database) -> None:
    before = table_counts(database)
    future = (utcnow() + timedelta(hours=1)).isoformat()
    response = post(client, tenant, completion(occurred_at=future))
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "occurred_at"
    assert table_counts(database) == before


def test_not_json_is_422(client: TestClient, tenant: Tenant) -> None:
    response = client.post(
        URL, content=b"{not json", headers=tenant.headers | {"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"


def test_test_mode_is_separate_and_uses_sandbox(
    client: TestClient, tenant: Tenant, providers: ProviderRegistry
) -> None:
    class Refusing:
        name = "acme-cards"

        def issue(self, order: IssueOrder) -> Issued:
            raise AssertionError("test mode reached a real provider")

        def lookup(self, idempotency_key: str) -> Issued | None:
            raise AssertionError("test mode reached a real provider")

    providers.add(Refusing())
    fixed_program(client, tenant, provider="acme-cards")
    live = post(client, tenant, completion("e-1"))
    test = client.post(URL, json=completion("e-1"), headers=tenant.test_headers)
    assert live.status_code == test.status_code == 202
    assert test.json()["livemode"] is False
    assert test.json()["id"] != live.json()["id"]
    reward = client.get(
        f"/api/v1/rewards/{test.json()['rewards'][0]['id']}", headers=tenant.test_headers
    ).json()
    assert reward["provider"] == "sandbox"
    assert reward["livemode"] is False
    client.app.state.worker.run_once()  # type: ignore[attr-defined]
    delivered = client.get(
        f"/api/v1/rewards/{test.json()['rewards'][0]['id']}", headers=tenant.test_headers
    ).json()
    assert delivered["state"] == "delivered"
    # A live key cannot see test records and vice versa.
    assert (
        client.get(
            f"/api/v1/rewards/{test.json()['rewards'][0]['id']}", headers=tenant.headers
        ).status_code
        == 404
    )
    live_learners = client.get("/api/v1/learners", headers=tenant.headers).json()["data"]
    test_learners = client.get("/api/v1/learners", headers=tenant.test_headers).json()["data"]
    assert {x["id"] for x in live_learners}.isdisjoint({x["id"] for x in test_learners})


def test_test_mode_never_touches_budgets(client: TestClient, tenant: Tenant) -> None:
    program = fixed_program(
        client, tenant, budget={"amount": "10.00", "currency": "USD"}, amount="25.00"
    )
    test = client.post(URL, json=completion("e-1"), headers=tenant.test_headers)
    assert test.json()["rewards"][0]["state"] == "ready"
    budget = client.get(f"/api/v1/programs/{program['id']}", headers=tenant.headers).json()
    assert budget["budget"]["reserved"]["amount"] == "0.00"
    live = post(client, tenant, completion("e-1"))
    assert live.json()["rewards"][0]["state"] == "held"
    assert live.json()["rewards"][0]["hold_reasons"][0]["reason"] == "budget_exhausted"


def test_learner_may_earn_from_several_programs(client: TestClient, tenant: Tenant) -> None:
    fixed_program(client, tenant, key="one", amount="10.00")
    fixed_program(client, tenant, key="two", amount="5.00")
    response = post(client, tenant, completion())
    amounts = sorted(r["amount"]["amount"] for r in response.json()["rewards"])
    assert amounts == ["10.00", "5.00"]


def test_first_matching_rule_by_priority_wins(client: TestClient, tenant: Tenant) -> None:
    program = fixed_program(client, tenant, amount="5.00")
    client.post(
        f"/api/v1/programs/{program['id']}/rules",
        headers=tenant.headers,
        json={
            "name": "passed well",
            "priority": 10,
            "conditions": {"min_score": "0.9"},
            "value": {"kind": "fixed", "amount": {"amount": "40.00", "currency": "USD"}},
        },
    )
    high = post(client, tenant, completion("e-1", learner="A"))
    low = post(client, tenant, completion("e-2", learner="B") | {"score": 0.5})
    assert high.json()["rewards"][0]["amount"]["amount"] == "40.00"
    assert low.json()["rewards"][0]["amount"]["amount"] == "5.00"


def test_auth_required_and_scopes(client: TestClient, tenant: Tenant, database: Database) -> None:
    from laurel.auth import service as auth

    assert client.post(URL, json=completion()).status_code == 401
    assert (
        client.post(
            URL, json=completion(), headers={"Authorization": "Bearer lrl_live_nope"}
        ).status_code
        == 401
    )
    with database.session() as session:
        reader = auth.create_key(
            session, organization_id=tenant.id, scopes=["read"], livemode=True, actor="test"
        ).secret
        writer = auth.create_key(
            session, organization_id=tenant.id, scopes=["events:write"], livemode=True, actor="test"
        ).secret
    denied = client.post(URL, json=completion(), headers={"Authorization": f"Bearer {reader}"})
    assert denied.status_code == 403
    assert denied.json()["error"] == "forbidden"
    ok = client.post(URL, json=completion(), headers={"Authorization": f"Bearer {writer}"})
    assert ok.status_code == 202
    assert (
        client.get("/api/v1/rewards", headers={"Authorization": f"Bearer {writer}"}).status_code
        == 403
    )
    assert (
        client.get("/api/v1/rewards", headers={"Authorization": f"Bearer {reader}"}).status_code
        == 200
    )


def test_other_organization_sees_nothing(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    from tests.conftest import make_tenant

    fixed_program(client, tenant)
    event = post(client, tenant, completion()).json()
    other = make_tenant(database, "globex")
    assert client.get(f"/api/v1/events/{event['id']}", headers=other.headers).status_code == 404
    reward_id = event["rewards"][0]["id"]
    assert client.get(f"/api/v1/rewards/{reward_id}", headers=other.headers).status_code == 404
    assert client.get("/api/v1/rewards", headers=other.headers).json()["data"] == []
    # The same event id in another organization is a different event.
    assert client.post(URL, json=completion(), headers=other.headers).status_code == 202
