"""Dead letters: kept with the exact reason, listed, replayed after the mapping is fixed."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select

from laurel.audit.models import AuditEntry
from laurel.db import Database
from tests.cli.test_commands import laurel
from tests.conftest import Tenant
from tests.events.connectors.support import (
    add_secret,
    count_events,
    post,
    set_mapping,
    stored,
)
from tests.events.connectors.test_litmos import achievement
from tests.factories import fixed_program, table_counts


def test_replay_after_mapping_fix_pays_once(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant, amount="20.00")
    secret = add_secret(client, tenant, "litmos")["secret"]
    body = achievement(result="Achieved")
    response = post(client, tenant, "litmos", body, query={"token": secret, "source": "prod"})
    assert response.status_code == 202
    letter_id = response.json()["dead_letter_id"]
    assert count_events(database) == 0

    letter = client.get(f"/api/v1/dead-letters/{letter_id}", headers=tenant.headers).json()
    assert letter["state"] == "open"
    assert letter["reason"] == "unmapped"
    assert letter["message"] == (
        "event 0: data.result: result 'Achieved' is not mapped; set mapping.options.results "
        "(known: completed, failed, passed)"
    )
    assert json.loads(letter["body"]) == body
    assert letter["headers"] == {"content-type": "application/json", "user-agent": "testclient"}
    assert letter["query"] == {"source": "prod"}  # the token is a credential: not kept

    listed = client.get("/api/v1/dead-letters", params={"state": "open"}, headers=tenant.headers)
    assert [x["id"] for x in listed.json()["data"]] == [letter_id]
    assert client.get("/api/v1/dead-letters", headers=tenant.test_headers).json()["data"] == []

    # Replaying before the fix keeps it open with the same reason.
    early = client.post(f"/api/v1/dead-letters/{letter_id}/replay", headers=tenant.headers)
    assert early.status_code == 200
    assert early.json()["dead_letter"]["state"] == "open"
    assert early.json()["dead_letter"]["replays"] == 1

    set_mapping(client, tenant, "litmos", options={"results": {"Achieved": "completed"}})
    fixed = client.post(f"/api/v1/dead-letters/{letter_id}/replay", headers=tenant.headers)
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["dead_letter"]["state"] == "resolved"
    result = fixed.json()["delivery"]["results"][0]
    assert result["status"] == "accepted"
    assert len(result["rewards"]) == 1
    assert fixed.json()["dead_letter"]["event_ids"] == [result["event_id"]]
    event = stored(database, result["event_id"])
    assert (event.source, event.source_event_id, event.outcome) == ("litmos", "981234", "completed")

    again = client.post(f"/api/v1/dead-letters/{letter_id}/replay", headers=tenant.headers)
    assert again.status_code == 409
    assert again.json()["error"] == "dead_letter_resolved"
    # Litmos redelivers the same webhook: it is now a replay of the stored event.
    redelivered = post(client, tenant, "litmos", body, query={"token": secret})
    assert redelivered.json()["replayed"] == 1
    assert table_counts(database)["rewards"] == 1

    with database.read_session() as session:
        actions = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    assert "events:dead_letter:create" in actions
    assert actions.count("events:dead_letter:replay") == 2
    assert "events:connector:update" in actions


def test_partly_valid_delivery_keeps_the_valid_events(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "litmos")["secret"]
    good = achievement(event_id=1)
    bad = achievement(event_id=2)
    bad["data"]["achievementDate"] = "31/12/2026"
    response = post(client, tenant, "litmos", [good, bad], query={"token": secret})
    assert response.status_code == 202
    assert response.json()["accepted"] == 1
    assert response.json()["results"][1] == {
        "status": "dead_letter",
        "index": 1,
        "field": "data.achievementDate",
        "message": "no readable time",
    }
    letter_id = response.json()["dead_letter_id"]
    letter = client.get(f"/api/v1/dead-letters/{letter_id}", headers=tenant.headers).json()
    assert letter["event_ids"] == [response.json()["results"][0]["event_id"]]
    assert count_events(database) == 1


def test_refused_event_is_a_dead_letter(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    """An id reused with a different body (the LMS's doing) is kept, not answered 409."""
    secret = add_secret(client, tenant, "litmos")["secret"]
    post(client, tenant, "litmos", achievement(event_id=5), query={"token": secret})
    changed = achievement(event_id=5)
    changed["data"]["courseId"] = "other-course"
    response = post(client, tenant, "litmos", changed, query={"token": secret})
    assert response.status_code == 202
    letter = client.get(
        f"/api/v1/dead-letters/{response.json()['dead_letter_id']}", headers=tenant.headers
    ).json()
    assert letter["reason"] == "refused"
    assert letter["errors"][0]["message"].startswith(
        "event_id_conflict: event_id '5' was already used"
    )


def test_unreadable_body(client: TestClient, tenant: Tenant, database: Database) -> None:
    secret = add_secret(client, tenant, "litmos")["secret"]
    response = post(client, tenant, "litmos", b"\xff{not json", query={"token": secret})
    assert response.status_code == 202
    letter = client.get(
        f"/api/v1/dead-letters/{response.json()['dead_letter_id']}", headers=tenant.headers
    ).json()
    assert letter["reason"] == "unreadable_body"
    assert letter["message"].startswith("(body): the body is not JSON")
    assert letter["body"] == "\ufffd{not json"


def test_cli_replay(client: TestClient, tenant: Tenant, database: Database) -> None:
    secret = add_secret(client, tenant, "litmos")["secret"]
    for event_id in (11, 12):
        post(
            client,
            tenant,
            "litmos",
            achievement("Achieved", event_id=event_id),
            query={"token": secret},
        )
    none = laurel("events", "replay", "--org", tenant.slug, url=database.url)
    assert none.returncode == 2
    assert "give --id ID (repeatable) or --all" in none.stderr

    still = laurel("events", "replay", "--org", tenant.slug, "--all", url=database.url)
    assert still.returncode == 1
    assert "2 replayed, 2 still open" in still.stdout

    set_mapping(client, tenant, "litmos", options={"results": {"Achieved": "passed"}})
    done = laurel(
        "events", "replay", "--org", tenant.slug, "--all", "--connector", "litmos", url=database.url
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(": resolved (accepted 1, replayed 0, ignored 0)") == 2
    assert "2 replayed, 0 still open" in done.stdout
    assert count_events(database) == 2
    nothing = laurel("events", "replay", "--org", tenant.slug, "--all", url=database.url)
    assert nothing.returncode == 0
    assert "0 replayed, 0 still open" in nothing.stdout
