"""Moodle events as local_webhooks and tool_trigger send them."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from laurel.db import Database
from laurel.learners import sealing
from tests.conftest import Tenant
from tests.events.connectors.support import (
    accepted_event,
    add_secret,
    count_dead_letters,
    count_events,
    post,
    recent,
    set_mapping,
    stored,
)
from tests.factories import fixed_program


def course_completed(
    token: str, *, user: int = 42, course: int = 7, **extra: Any
) -> dict[str, Any]:
    """``\\core\\event\\course_completed`` as local_webhooks posts it (event data + host, token)."""
    when = int(recent().timestamp())
    return {
        "eventname": "\\core\\event\\course_completed",
        "component": "core",
        "action": "completed",
        "target": "course",
        "objecttable": "course_completions",
        "objectid": 913,
        "crud": "u",
        "edulevel": 2,
        "contextid": 120,
        "contextlevel": 50,
        "contextinstanceid": course,
        "userid": 2,
        "courseid": course,
        "relateduserid": user,
        "anonymous": 0,
        "other": {"relateduserid": user},
        "timecreated": when,
        "host": "moodle.example.edu",
        "token": token,
        "extra": "",
        **extra,
    }


def module_completion(token: str, state: Any, *, cmid: int = 55) -> dict[str, Any]:
    body = course_completed(token)
    body.update(
        eventname="\\core\\event\\course_module_completion_updated",
        target="course_module_completion",
        objecttable="course_modules_completion",
        objectid=3001,
        contextlevel=70,
        contextinstanceid=cmid,
        other={"relateduserid": 42, "completionstate": state, "overrideby": None},
    )
    return body


def test_course_completed_pays_once_and_retries_are_replays(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant, amount="10.00")
    secret = add_secret(client, tenant, "moodle")["secret"]
    body = course_completed(secret)

    first = post(client, tenant, "moodle", body)
    event_id = accepted_event(first)
    assert first.json()["results"][0]["rewards"], first.json()
    event = stored(database, event_id)
    assert (event.source, event.learner, event.course) == ("moodle", "42", "7")
    assert event.outcome == "completed"
    assert event.score is None
    assert int(event.occurred_at.timestamp()) == body["timecreated"]
    assert event.source_event_id.startswith("moodle:derived:")

    # local_webhooks has no retry of its own, but a resend (or tool_trigger's retry) is the
    # same event: recognised by its derived id, stored once, paid once.
    again = post(client, tenant, "moodle", body)
    assert again.status_code == 202
    assert again.json()["replayed"] == 1
    assert again.json()["results"][0]["event_id"] == event_id
    assert again.json()["results"][0]["rewards"] == first.json()["results"][0]["rewards"]
    assert count_events(database) == 1

    # The token is a secret: it is not kept on the stored event.
    with database.read_session() as session:
        from laurel.events.models import CompletionEvent

        row = session.get(CompletionEvent, uuid.UUID(event_id))
        assert row is not None
        payload = sealing.value_of(row, sealing.COMPLETION_PAYLOAD)
        assert "token" not in payload
        assert payload["relateduserid"] == 42


def test_module_completion_states(client: TestClient, tenant: Tenant, database: Database) -> None:
    secret = add_secret(client, tenant, "moodle")["secret"]
    expected = {0: "in_progress", 1: "completed", 2: "passed", 3: "failed", 4: "failed"}
    for state, outcome in expected.items():
        response = post(client, tenant, "moodle", module_completion(secret, state, cmid=60 + state))
        event = stored(database, accepted_event(response))
        assert event.outcome == outcome
        assert event.course == f"7/cm/{60 + state}"
        assert event.learner == "42"


def test_module_completion_states_sent_as_digit_strings(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    """tool_trigger templates and PHP database values send the state as text."""
    fixed_program(client, tenant, amount="10.00")
    secret = add_secret(client, tenant, "moodle")["secret"]
    expected = {"0": "in_progress", "1": "completed", " 2 ": "passed", "3": "failed", "4": "failed"}
    for number, (state, outcome) in enumerate(expected.items()):
        response = post(
            client, tenant, "moodle", module_completion(secret, state, cmid=70 + number)
        )
        event = stored(database, accepted_event(response))
        assert (event.learner, event.course, event.outcome, event.score) == (
            "42",
            f"7/cm/{70 + number}",
            outcome,
            None,
        )
    # The completed and passed modules pay; progress and failures do not.
    rewards = client.get("/api/v1/rewards", headers=tenant.headers).json()["data"]
    assert len(rewards) == 2


def test_completion_state_that_is_not_0_to_4_is_a_dead_letter(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "moodle")["secret"]
    for number, state in enumerate(["5", "1.5", "one", "", True, -1]):
        response = post(
            client, tenant, "moodle", module_completion(secret, state, cmid=80 + number)
        )
        assert response.status_code == 202, response.text
        letter = client.get(
            f"/api/v1/dead-letters/{response.json()['dead_letter_id']}", headers=tenant.headers
        ).json()
        assert letter["errors"] == [
            {
                "index": 0,
                "field": "other.completionstate",
                "message": f"expected 0-4 (COMPLETION_* states), got {state!r}",
            }
        ], state
    assert count_events(database) == 0


def test_tool_trigger_header_token_and_batches(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "moodle")["secret"]
    events = [course_completed("", user=u) for u in (1, 2)]
    for e in events:
        del e["token"]
    response = post(client, tenant, "moodle", events, headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 2
    other = post(
        client, tenant, "moodle", course_completed("", user=3), headers={"X-Laurel-Token": secret}
    )
    accepted_event(other)


def test_other_events_are_ignored_not_stored(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "moodle")["secret"]
    viewed = course_completed(secret, eventname="\\core\\event\\course_viewed")
    response = post(client, tenant, "moodle", viewed)
    assert response.status_code == 202
    assert response.json()["ignored"] == 1
    assert (
        response.json()["results"][0]["reason"]
        == "\\core\\event\\course_viewed is not a completion event"
    )
    assert count_events(database) == 0
    assert count_dead_letters(database) == 0


def test_course_ids_mapping_limits_what_counts(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "moodle")["secret"]
    set_mapping(client, tenant, "moodle", course_ids=["9"])
    response = post(client, tenant, "moodle", course_completed(secret, course=7))
    assert response.json()["ignored"] == 1
    assert "not in this organization's course_ids" in response.json()["results"][0]["reason"]
    accepted_event(post(client, tenant, "moodle", course_completed(secret, course=9)))


def test_missing_learner_is_a_dead_letter_with_the_moodle_field(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "moodle")["secret"]
    body = course_completed(secret)
    del body["relateduserid"]
    body["other"] = {}
    response = post(client, tenant, "moodle", body)
    assert response.status_code == 202
    letter_id = response.json()["dead_letter_id"]
    assert letter_id is not None
    letter = client.get(f"/api/v1/dead-letters/{letter_id}", headers=tenant.headers).json()
    assert letter["reason"] == "unmapped"
    assert letter["errors"] == [{"index": 0, "field": "relateduserid", "message": "Field required"}]
    # The body is kept as received, except the token, which is a secret.
    assert '"token": "[redacted]"' in letter["body"]
    assert secret not in letter["body"]
    assert count_events(database) == 0


def test_module_without_completionstate_is_a_dead_letter(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "moodle")["secret"]
    body = module_completion(secret, 1)
    del body["other"]["completionstate"]
    response = post(client, tenant, "moodle", body)
    letter = client.get(
        f"/api/v1/dead-letters/{response.json()['dead_letter_id']}", headers=tenant.headers
    ).json()
    assert letter["errors"][0]["field"] == "other.completionstate"
    assert "expected 0-4" in letter["errors"][0]["message"]
