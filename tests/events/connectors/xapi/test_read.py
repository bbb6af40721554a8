"""Reading statements back as LRS clients do: statementId, voidedStatementId, about."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from laurel.auth import service as auth
from laurel.db import Database
from laurel.kit.clock import utcnow
from tests.conftest import Tenant, make_tenant
from tests.events.connectors.xapi.support import VERSION, basic, bearer, statement, voiding


def _store(client: TestClient, tenant: Tenant, *bodies: object) -> None:
    response = client.post("/xapi/statements", json=list(bodies), headers=basic(tenant.live_key))
    assert response.status_code == 200, response.text


def test_about_lists_versions(client: TestClient) -> None:
    response = client.get("/xapi/about")
    assert response.status_code == 200
    assert "1.0.3" in response.json()["version"]
    assert response.headers["X-Experience-API-Version"] == "1.0.3"


def test_statement_read_back_with_lrs_fields(client: TestClient, tenant: Tenant) -> None:
    body = statement("completed", timestamp=utcnow().isoformat())
    _store(client, tenant, body)
    response = client.get(
        "/xapi/statements", params={"statementId": body["id"]}, headers=basic(tenant.live_key)
    )
    assert response.status_code == 200, response.text
    got = response.json()
    assert got["id"] == body["id"]
    assert got["actor"] == body["actor"]
    assert got["verb"] == body["verb"]
    assert got["timestamp"] == body["timestamp"]
    assert got["stored"].endswith("Z")
    assert got["version"] == "1.0.0"
    assert got["authority"]["objectType"] == "Agent"
    assert response.headers["X-Experience-API-Version"] == "1.0.3"
    assert response.headers["X-Experience-API-Consistent-Through"] >= got["stored"]
    assert response.headers["Last-Modified"].endswith("GMT")


def test_voided_statement_only_under_voided_statement_id(
    client: TestClient, tenant: Tenant
) -> None:
    target = statement("completed", timestamp=utcnow().isoformat())
    _store(client, tenant, target)
    void = voiding(target["id"])
    _store(client, tenant, void)
    headers = bearer(tenant.live_key)
    gone = client.get("/xapi/statements", params={"statementId": target["id"]}, headers=headers)
    assert gone.status_code == 404
    assert gone.json()["error"] == "statement_not_found"
    assert "X-Experience-API-Consistent-Through" in gone.headers
    voided = client.get(
        "/xapi/statements", params={"voidedStatementId": target["id"]}, headers=headers
    )
    assert voided.status_code == 200, voided.text
    assert voided.json()["id"] == target["id"]
    # The voiding statement itself is live: readable by statementId, not as voided.
    live = client.get("/xapi/statements", params={"statementId": void["id"]}, headers=headers)
    assert live.status_code == 200
    assert live.json()["object"] == {"objectType": "StatementRef", "id": target["id"]}
    not_voided = client.get(
        "/xapi/statements", params={"voidedStatementId": void["id"]}, headers=headers
    )
    assert not_voided.status_code == 404


def test_absent_and_other_organizations_statements_are_404(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    body = statement("completed", timestamp=utcnow().isoformat())
    _store(client, tenant, body)
    other = make_tenant(database, "globex")
    for key, wanted in ((tenant.live_key, str(uuid.uuid4())), (other.live_key, body["id"])):
        response = client.get(
            "/xapi/statements", params={"statementId": wanted}, headers=basic(key)
        )
        assert response.status_code == 404, response.text
    # Test-mode keys see test-mode statements only.
    response = client.get(
        "/xapi/statements", params={"statementId": body["id"]}, headers=basic(tenant.test_key)
    )
    assert response.status_code == 404


def test_ids_format_and_attachments(client: TestClient, tenant: Tenant) -> None:
    body = statement("completed", timestamp=utcnow().isoformat())
    _store(client, tenant, body)
    headers = basic(tenant.live_key)
    slim = client.get(
        "/xapi/statements", params={"statementId": body["id"], "format": "ids"}, headers=headers
    ).json()
    assert slim["actor"] == {"objectType": "Agent", "mbox": "mailto:ana@example.com"}
    assert slim["object"] == {"objectType": "Activity", "id": body["object"]["id"]}
    multi = client.get(
        "/xapi/statements",
        params={"statementId": body["id"], "attachments": "true"},
        headers=headers,
    )
    assert multi.status_code == 200
    assert multi.headers["content-type"].startswith("multipart/mixed; boundary=")
    assert body["id"].encode() in multi.content


def test_bad_requests_name_the_problem(client: TestClient, tenant: Tenant) -> None:
    headers = basic(tenant.live_key)
    some = str(uuid.uuid4())
    cases = [
        ({}, "statement queries are not supported"),
        ({"statementId": some, "voidedStatementId": some}, "not both"),
        ({"statementId": some, "verb": "x"}, "only be combined with attachments and format"),
        ({"statementId": "nope"}, "is not a UUID"),
        ({"statementId": some, "format": "full"}, "is not one of exact, ids, canonical"),
    ]
    for params, message in cases:
        response = client.get("/xapi/statements", params=params, headers=headers)
        assert response.status_code == 400, (params, response.text)
        assert message in str(response.json()["detail"])
        assert response.headers["X-Experience-API-Version"] == "1.0.3"
    missing = client.get(
        "/xapi/statements",
        params={"statementId": some},
        headers={"Authorization": headers["Authorization"]},
    )
    assert missing.status_code == 400
    assert "X-Experience-API-Version" in str(missing.json()["detail"])


def test_read_needs_a_key_with_read_or_events_write(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    some = {"statementId": str(uuid.uuid4())}
    assert client.get("/xapi/statements", params=some, headers=VERSION).status_code == 401
    with database.session() as session:
        reader = auth.create_key(
            session, organization_id=tenant.id, scopes=["read"], livemode=True, actor="t"
        ).secret
    assert client.get("/xapi/statements", params=some, headers=basic(reader)).status_code == 404
