"""A batch is decided as if its events had arrived one after the other.

Intake is set-based (a few statements per batch), so these tests pin down that the order of the
events inside a batch still means what it would mean across requests.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from laurel.kit.clock import utcnow
from tests.conftest import Tenant, completion
from tests.factories import fixed_program, program_budget

URL = "/api/v1/completions/batch"


def money(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


def post(client: TestClient, tenant: Tenant, events: list[Any]) -> list[dict[str, Any]]:
    response = client.post(URL, json={"events": events}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def test_second_completion_of_a_course_in_one_batch_is_a_duplicate(
    client: TestClient, tenant: Tenant
) -> None:
    fixed_program(client, tenant)
    first, second = post(client, tenant, [completion("a-1"), completion("a-2")])
    assert (first["status"], second["status"]) == (202, 202)
    assert len(first["event"]["rewards"]) == 1
    assert second["event"]["rewards"] == []
    assert second["event"]["decisions"][0]["result"] == "duplicate"
    # And across requests: the slot stays taken.
    (third,) = post(client, tenant, [completion("a-3")])
    assert third["event"]["decisions"][0]["result"] == "duplicate"


def test_each_event_sees_the_learner_as_the_events_before_it_left_it(
    client: TestClient, tenant: Tenant
) -> None:
    fixed_program(client, tenant, eligibility={"departments": ["Sales"]})
    ops = completion("d-1", course="C-1")
    ops["learner"]["department"] = "Ops"
    sales = completion("d-2", course="C-2")  # the same learner, moved to Sales
    silent = completion("d-3", course="C-3")
    del silent["learner"]["department"]  # says nothing: the learner stays in Sales
    results = post(client, tenant, [ops, sales, silent])
    assert [r["event"]["decisions"][0]["result"] for r in results] == [
        "not_eligible",
        "rewarded",
        "rewarded",
    ]
    learner_id = results[0]["event"]["learner_id"]
    learner = client.get(f"/api/v1/learners/{learner_id}", headers=tenant.headers).json()
    assert learner["department"] == "Sales"
    trail = client.get(
        "/api/v1/audit", headers=tenant.headers, params={"target_id": learner_id}
    ).json()
    actions = [e["action"] for e in trail]
    # New in this batch: one entry that creates it as the batch left it.
    assert actions == ["learners:learner:create"]


def test_budget_is_spent_in_batch_order(client: TestClient, tenant: Tenant) -> None:
    program = fixed_program(client, tenant, amount="40.00", budget=money("100.00"))
    events = [completion(f"b-{n}", learner=f"L{n}") for n in range(4)]
    results = post(client, tenant, events)
    states = [r["event"]["rewards"][0]["state"] for r in results]
    assert states == ["ready", "ready", "held", "held"]
    assert program_budget(client, tenant, program["id"])["reserved"] == "80.00"


def test_repeated_id_inside_a_batch(client: TestClient, tenant: Tenant) -> None:
    fixed_program(client, tenant)
    body = completion("r-1")
    other = completion("r-1", course="ELSEWHERE")
    results = post(client, tenant, [body, body, other])
    assert [r["status"] for r in results] == [202, 200, 409]
    assert results[1]["event"]["id"] == results[0]["event"]["id"]
    assert results[1]["event"]["replayed"] is True
    assert results[2]["error"] == "event_id_conflict"


def test_refused_item_does_not_take_its_id(client: TestClient, tenant: Tenant) -> None:
    """An item refused on its own (here: in the future) leaves its id free for a later one."""
    fixed_program(client, tenant)
    future = completion("f-1", occurred_at="2999-01-01T00:00:00Z")
    valid = completion("f-1", occurred_at=utcnow().isoformat())
    results = post(client, tenant, [future, valid])
    assert [r["status"] for r in results] == [422, 202]
    assert results[0]["detail"][0]["field"] == "events[0].occurred_at"


def test_answers_match_their_documented_models(client: TestClient, tenant: Tenant) -> None:
    """Answers are encoded from plain values for speed; they must still be the models."""
    from laurel.events.schemas import BatchOut, EventOut

    fixed_program(client, tenant, approval_threshold=money("10.00"))
    single = client.post("/api/v1/completions", json=completion("m-1"), headers=tenant.headers)
    assert single.status_code == 202
    event = EventOut.model_validate(single.json())
    assert event.rewards[0].hold_reasons[0].reason == "approval_required"
    assert set(single.json()) == set(EventOut.model_fields)
    batch = client.post(
        URL, json={"events": [completion("m-2", learner="B"), {"bad": 1}]}, headers=tenant.headers
    )
    parsed = BatchOut.model_validate(batch.json())
    assert [r.status for r in parsed.results] == [202, 422]
    assert set(batch.json()["results"][0]["event"]) == set(EventOut.model_fields)
    fetched = client.get(f"/api/v1/events/{event.id}", headers=tenant.headers)
    assert EventOut.model_validate(fetched.json()).id == event.id
    assert fetched.json()["occurred_at"].endswith("Z")


def test_new_learners_describing_themselves_differently(client: TestClient, tenant: Tenant) -> None:
    """New learners and courses of one batch are inserted together, whatever each event says
    (or leaves out) about them."""
    fixed_program(client, tenant)
    bare = completion("n-1", learner="BARE", course="C-BARE")
    bare["learner"] = {"external_id": "BARE"}
    bare["course"] = {"external_id": "C-BARE"}
    full = completion("n-2", learner="FULL", course="C-FULL")
    results = post(client, tenant, [bare, full])
    assert [r["status"] for r in results] == [202, 202]
    learner = client.get(
        f"/api/v1/learners/{results[0]['event']['learner_id']}", headers=tenant.headers
    ).json()
    assert (learner["email"], learner["classification"]) == (None, "employee")
