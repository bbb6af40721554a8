"""The xAPI statements endpoint over HTTP: auth, versions, ids, replays, conflicts, voiding."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from laurel.auth import service as auth
from laurel.db import Database
from laurel.events.connectors.xapi.models import XapiStatement
from laurel.events.models import CompletionEvent
from laurel.kit.clock import utcnow
from laurel.learners import sealing
from laurel.worker import Worker
from tests.conftest import Tenant
from tests.events.connectors.xapi.support import VERSION, basic, bearer, statement, voiding
from tests.factories import fixed_program, opened, table_counts


def event_of(database: Database, statement_id: str) -> CompletionEvent | None:
    with database.sessionmaker() as session:
        return session.scalar(
            select(CompletionEvent).where(
                CompletionEvent.source == "xapi", CompletionEvent.source_event_id == statement_id
            )
        )


def rewards_of(client: TestClient, tenant: Tenant, event: CompletionEvent) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/events/{event.id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["rewards"]
    return found


def test_completed_statement_pays_through_basic_auth(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant, amount="25.00")
    body = statement("completed", timestamp=utcnow().isoformat())
    response = client.post("/xapi/statements", json=body, headers=basic(tenant.live_key))
    assert response.status_code == 200, response.text
    assert response.json() == [body["id"]]
    assert response.headers["X-Experience-API-Version"] == "1.0.3"
    event = event_of(database, body["id"])
    assert event is not None
    assert event.outcome == "completed"
    with database.sessionmaker() as session:
        from laurel.learners.models import Learner

        learner = session.get(Learner, event.learner_id)
        assert learner is not None
        assert learner.external_id == "mbox:ana@example.com"
        assert learner.email == "ana@example.com"
    assert [r["state"] for r in rewards_of(client, tenant, event)] == ["ready"]


def test_post_assigns_ids_in_order_and_accepts_trailing_question_mark(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    first = statement("completed")
    del first["id"]
    second = statement("attempted", email="bo@example.com")
    response = client.post(
        "/xapi/statements?", json=[first, second], headers=bearer(tenant.live_key)
    )
    assert response.status_code == 200, response.text
    ids = response.json()
    assert len(ids) == 2
    assert uuid.UUID(ids[0]).version == 4
    assert ids[1] == second["id"]
    with database.sessionmaker() as session:
        stored = {str(s.statement_id): s for s in session.scalars(select(XapiStatement)).all()}
    assert set(stored) == set(ids)
    assert opened(database, stored[ids[0]], sealing.XAPI_STATEMENT)["id"] == ids[0]
    assert stored[ids[1]].outcome == "in_progress"


def test_put_stores_under_statement_id_and_answers_204(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    body = statement("passed")
    statement_id = body.pop("id")
    response = client.put(
        f"/xapi/statements?statementId={statement_id}", json=body, headers=basic(tenant.live_key)
    )
    assert response.status_code == 204, response.text
    assert response.headers["X-Experience-API-Version"] == "1.0.3"
    event = event_of(database, statement_id)
    assert event is not None
    assert event.outcome == "passed"

    other = statement("passed")
    mismatch = client.put(
        f"/xapi/statements?statementId={uuid.uuid4()}", json=other, headers=basic(tenant.live_key)
    )
    assert mismatch.status_code == 400
    assert "differs from statementId" in mismatch.json()["detail"]
    missing = client.put("/xapi/statements", json=other, headers=basic(tenant.live_key))
    assert missing.status_code == 400
    assert "statementId" in missing.json()["detail"]


def test_replay_pays_once_and_a_changed_body_is_a_conflict(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant)
    body = statement("completed", timestamp=utcnow().isoformat())
    headers = basic(tenant.live_key)
    assert client.post("/xapi/statements", json=body, headers=headers).status_code == 200
    before = table_counts(database)
    again = client.post("/xapi/statements", json=body, headers=headers)
    assert again.status_code == 200
    assert again.json() == [body["id"]]
    put_again = client.put(f"/xapi/statements?statementId={body['id']}", json=body, headers=headers)
    assert put_again.status_code == 204
    assert table_counts(database) == before
    changed = {**body, "verb": {"id": "http://adlnet.gov/expapi/verbs/passed"}}
    conflict = client.post(
        "/xapi/statements",
        json=[statement("completed", email="new@example.com"), changed],
        headers=headers,
    )
    assert conflict.status_code == 409
    assert conflict.json()["error"] == "statement_conflict"
    assert body["id"] in conflict.json()["detail"]
    assert conflict.headers["X-Experience-API-Version"] == "1.0.3"
    assert table_counts(database) == before


def test_version_header_is_required(client: TestClient, tenant: Tenant) -> None:
    auth_only = {"Authorization": f"Bearer {tenant.live_key}"}
    missing = client.post("/xapi/statements", json=statement(), headers=auth_only)
    assert missing.status_code == 400
    assert "X-Experience-API-Version header is required" in missing.json()["detail"]
    assert missing.headers["X-Experience-API-Version"] == "1.0.3"
    old = client.post(
        "/xapi/statements",
        json=statement(),
        headers={**auth_only, "X-Experience-API-Version": "0.95"},
    )
    assert old.status_code == 400
    assert "'0.95' is not supported" in old.json()["detail"]
    two = client.post(
        "/xapi/statements",
        json=statement(),
        headers={**auth_only, "X-Experience-API-Version": "2.0.0"},
    )
    assert two.status_code == 200, two.text
    assert two.headers["X-Experience-API-Version"] == "2.0.0"


def test_credentials(client: TestClient, tenant: Tenant, database: Database) -> None:
    nobody = client.post("/xapi/statements", json=statement(), headers=VERSION)
    assert nobody.status_code == 401
    assert nobody.headers["WWW-Authenticate"].startswith("Basic")
    assert nobody.headers["X-Experience-API-Version"] == "1.0.3"
    wrong = client.post("/xapi/statements", json=statement(), headers=basic("lrl_live_nope"))
    assert wrong.status_code == 401
    as_user = client.post(
        "/xapi/statements", json=statement(), headers=basic("", user=tenant.live_key)
    )
    assert as_user.status_code == 401
    assert "password" in as_user.json()["detail"]
    with database.session() as session:
        reader = auth.create_key(
            session, organization_id=tenant.id, scopes=["read"], livemode=True, actor="test"
        )
    forbidden = client.post("/xapi/statements", json=statement(), headers=basic(reader.secret))
    assert forbidden.status_code == 403
    with database.session() as session:
        writer = auth.create_key(
            session,
            organization_id=tenant.id,
            scopes=["events:write"],
            livemode=False,
            actor="test",
        )
    ok = client.post("/xapi/statements", json=statement(), headers=basic(writer.secret, "x"))
    assert ok.status_code == 200, ok.text


def test_an_invalid_statement_refuses_the_whole_batch(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    before = table_counts(database)
    bad = statement("passed", result={"score": {"scaled": 1.5}})
    response = client.post(
        "/xapi/statements", json=[statement("completed"), bad], headers=basic(tenant.live_key)
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_statement",
        "detail": [
            {
                "statement": 1,
                "field": "result.score.scaled",
                "message": "must be between -1 and 1 (got 1.5)",
            }
        ],
    }
    assert table_counts(database) == before


def _refusal(client: TestClient, tenant: Tenant, body: Any) -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = client.post(
        "/xapi/statements",
        content=raw,
        headers={**basic(tenant.live_key), "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _messages(answer: dict[str, Any]) -> list[tuple[str, str]]:
    return [(d["field"], d["message"]) for d in answer["detail"]]


def test_conformance_refusals(client: TestClient, tenant: Tenant, database: Database) -> None:
    before = table_counts(database)
    good = statement()
    duplicate = json.dumps(good)[:-1] + ', "verb": {"id": "http://adlnet.gov/expapi/verbs/passed"}}'
    answer = _refusal(client, tenant, duplicate.encode())
    assert answer["error"] == "malformed_json"
    assert "duplicate key 'verb'" in answer["detail"]

    minus_zero = statement(timestamp="2026-01-01T10:00:00-00:00")
    assert _messages(_refusal(client, tenant, minus_zero)) == [
        ("timestamp", "the offset -00:00 is not allowed; use Z or +00:00")
    ]
    raw_high = statement(result={"score": {"raw": 120, "min": 0, "max": 100}})
    assert _messages(_refusal(client, tenant, raw_high)) == [
        ("result.score.raw", "must not be above max (120 > 100)")
    ]
    bad_id = statement(statement_id="not-a-uuid")
    assert _messages(_refusal(client, tenant, bad_id)) == [
        ("id", "must be a UUID in its standard string form (8-4-4-4-12 hex digits)")
    ]
    unknown = statement(result={"success": True, "grade": "A"})
    assert _messages(_refusal(client, tenant, unknown)) == [
        ("result.grade", "is not a property xAPI allows here")
    ]
    version = statement(version="0.9")
    assert _messages(_refusal(client, tenant, version)) == [("version", "must be 1.0.x or 2.0.x")]
    void_activity = voiding(str(uuid.uuid4()))
    void_activity["object"] = {"objectType": "Activity", "id": "https://example.com/a"}
    assert _messages(_refusal(client, tenant, void_activity)) == [
        ("object.objectType", "a voiding statement's object must be a StatementRef")
    ]
    no_actor = statement()
    del no_actor["actor"]
    assert _messages(_refusal(client, tenant, no_actor)) == [("actor", "is required")]
    not_bool = statement(result={"success": "yes", "completion": 1})
    assert _messages(_refusal(client, tenant, not_bool)) == [
        ("result.success", "must be true or false"),
        ("result.completion", "must be true or false"),
    ]
    two_ids = statement()
    two_ids["actor"]["mbox_sha1sum"] = "ebd31e95054c018b10727ccffd2ef2ec3a016ee9"
    assert _messages(_refusal(client, tenant, two_ids)) == [
        (
            "actor",
            "an Agent needs exactly one identifier: mbox, mbox_sha1sum, openid or account "
            "(got mbox, mbox_sha1sum)",
        )
    ]
    nan = _refusal(client, tenant, b'{"result": {"score": {"scaled": NaN}}}')
    assert nan["error"] == "malformed_json"
    future = statement(timestamp="2099-01-01T00:00:00Z")
    assert _messages(_refusal(client, tenant, future)) == [
        ("(statement)", "timestamp is in the future")
    ]
    assert table_counts(database) == before


def test_voiding_cancels_a_reward_not_yet_delivered(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant)
    body = statement("passed", timestamp=utcnow().isoformat())
    headers = basic(tenant.live_key)
    assert client.post("/xapi/statements", json=body, headers=headers).status_code == 200
    event = event_of(database, body["id"])
    assert event is not None
    void = voiding(body["id"])
    assert client.post("/xapi/statements", json=void, headers=headers).status_code == 200
    [reward] = rewards_of(client, tenant, event)
    assert reward["state"] == "cancelled"
    detail = client.get(f"/api/v1/rewards/{reward['id']}", headers=tenant.headers).json()
    assert detail["last_error"] == f"xAPI statement {body['id']} voided by {void['id']}"
    with database.sessionmaker() as session:
        stored = session.scalar(
            select(XapiStatement).where(XapiStatement.statement_id == uuid.UUID(body["id"]))
        )
        assert stored is not None
        assert stored.voided is True
    reviews = client.get("/api/v1/xapi/reviews", headers=tenant.headers).json()
    assert reviews["data"] == []
    # Voiding a voiding statement is refused.
    again = client.post("/xapi/statements", json=voiding(void["id"]), headers=headers)
    assert again.status_code == 400
    assert "cannot be voided" in again.json()["detail"][0]["message"]


def test_voiding_a_delivered_reward_opens_a_review(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant)
    body = statement("completed", timestamp=utcnow().isoformat())
    headers = basic(tenant.live_key)
    assert client.post("/xapi/statements", json=body, headers=headers).status_code == 200
    worker: Worker = client.app.state.worker  # type: ignore[attr-defined]
    assert worker.run_once() == 1
    event = event_of(database, body["id"])
    assert event is not None
    [reward] = rewards_of(client, tenant, event)
    assert reward["state"] == "delivered"
    void = voiding(body["id"])
    assert client.post("/xapi/statements", json=void, headers=headers).status_code == 200
    assert client.post("/xapi/statements", json=void, headers=headers).status_code == 200
    [after] = rewards_of(client, tenant, event)
    assert after["state"] == "delivered"
    reviews = client.get("/api/v1/xapi/reviews", headers=tenant.headers)
    assert reviews.status_code == 200, reviews.text
    [review] = reviews.json()["data"]
    assert review["reward_id"] == reward["id"]
    assert review["voided_statement_id"] == body["id"]
    assert review["voiding_statement_id"] == void["id"]
    assert review["reward_state"] == "delivered"
    assert review["state"] == "open"
    audit = client.get("/api/v1/audit", headers=tenant.headers, params={"limit": 100}).json()
    actions = [entry["action"] for entry in audit]
    assert actions.count("xapi:review:open") == 1
    assert "xapi:statement:void" in actions


def test_group_actor_is_stored_without_an_event(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    body = statement("completed")
    body["actor"] = {
        "objectType": "Group",
        "name": "Team",
        "member": [{"mbox": "mailto:a@example.com"}, {"mbox": "mailto:b@example.com"}],
    }
    assert (
        client.post("/xapi/statements", json=body, headers=basic(tenant.live_key)).status_code
        == 200
    )
    assert event_of(database, body["id"]) is None
    with database.sessionmaker() as session:
        stored = session.scalar(select(XapiStatement))
        assert stored is not None
        assert stored.note == "the actor is a Group: not attributed to one learner"
        assert session.scalar(select(func.count()).select_from(CompletionEvent)) == 0
