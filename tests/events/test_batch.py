"""POST /api/v1/completions/batch: each event answered on its own, valid ones kept."""

from __future__ import annotations

from fastapi.testclient import TestClient

from laurel.db import Database
from tests.conftest import Tenant, completion
from tests.factories import fixed_program, table_counts

URL = "/api/v1/completions/batch"


def test_mixed_batch(client: TestClient, tenant: Tenant) -> None:
    fixed_program(client, tenant)
    stored = client.post("/api/v1/completions", json=completion("old"), headers=tenant.headers)
    replay_body = completion("old") | {"occurred_at": stored.json()["occurred_at"]}
    first = completion("b-1", learner="A")
    events = [
        first,
        completion("b-2", learner="B") | {"outcome": "done"},
        replay_body,
        replay_body | {"score": 0.1},
        completion("b-3", learner="A", course="OTHER"),
        first,
        "not an object",
    ]
    response = client.post(URL, json={"events": events}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    statuses = [r["status"] for r in body["results"]]
    assert statuses == [202, 422, 200, 409, 202, 200, 422]
    assert (body["accepted"], body["replayed"], body["rejected"]) == (2, 2, 3)
    assert body["results"][1]["detail"][0]["field"] == "events[1].outcome"
    assert body["results"][3]["error"] == "event_id_conflict"
    assert body["results"][6]["detail"][0]["field"] == "events[6]"
    assert len(body["results"][0]["event"]["rewards"]) == 1
    # The in-batch repeat of b-1 answers with the same stored event.
    assert body["results"][5]["event"]["id"] == body["results"][0]["event"]["id"]


def test_oversized_batch_refused_whole(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    before = table_counts(database)
    events = [completion(f"e-{n}", learner=f"L{n}") for n in range(1001)]
    response = client.post(URL, json={"events": events}, headers=tenant.headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "events"
    assert table_counts(database) == before


def test_empty_and_malformed_batches(client: TestClient, tenant: Tenant) -> None:
    empty = client.post(URL, json={"events": []}, headers=tenant.headers)
    assert empty.status_code == 422
    assert empty.json()["detail"][0]["field"] == "events"
    wrong = client.post(URL, json=[completion()], headers=tenant.headers)
    assert wrong.status_code == 422


def test_full_batch_of_1000(client: TestClient, tenant: Tenant) -> None:
    fixed_program(client, tenant, amount="1.00")
    events = [completion(f"e-{n}", learner=f"L{n}") for n in range(1000)]
    response = client.post(URL, json={"events": events}, headers=tenant.headers)
    assert response.status_code == 200
    assert response.json()["accepted"] == 1000
    page = client.get("/api/v1/rewards", headers=tenant.headers, params={"limit": 500}).json()
    assert len(page["data"]) == 500
    assert page["next_cursor"] is not None
