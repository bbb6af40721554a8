"""Sender verification and secret administration: refused senders leave nothing behind."""

from __future__ import annotations

import base64
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from laurel.audit.models import AuditEntry
from laurel.db import Database
from laurel.events.connectors.models import ConnectorSecret
from laurel.events.connectors.verify import sign
from tests.conftest import Tenant, make_tenant
from tests.events.connectors.support import (
    accepted_event,
    add_secret,
    count_dead_letters,
    count_events,
    post,
)
from tests.events.connectors.test_docebo import completed as docebo_completed
from tests.events.connectors.test_openedx import passing
from tests.factories import table_counts


def _unchanged_except_secrets(before: dict[str, int], after: dict[str, int]) -> None:
    # connector_secrets.last_used_at is a column update, not a row: row counts must not move.
    assert before == after


def test_tampered_body_and_wrong_secret_are_refused_and_stored_nowhere(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "openedx")["secret"]
    body = json.dumps(passing()).encode()
    good = sign(body, secret)
    before = table_counts(database)

    tampered = body.replace(b'"is_passing": true', b'"is_passing": false')
    assert tampered != body
    for raw, signature in (
        (tampered, good),
        (body, sign(body, "whsec_wrong-secret-of-enough-length")),
        (body, "sha256=" + "0" * 64),
        (body, "not-hex-or-base64!"),
    ):
        response = post(client, tenant, "openedx", raw, headers={"X-Laurel-Signature": signature})
        assert response.status_code == 401, response.text
        assert response.json() == {
            "error": "unauthorized",
            "detail": "the credentials or signature match no active secret",
        }
    missing = post(client, tenant, "openedx", body)
    assert missing.status_code == 401
    assert missing.json()["detail"] == (
        "send credentials openedx accepts: x-laurel-signature: HMAC-SHA256 of the body "
        "(hex or base64); Authorization: Bearer <secret>; x-laurel-token: <secret>"
    )
    assert table_counts(database) == before
    assert count_events(database) == 0
    assert count_dead_letters(database) == 0

    accepted_event(post(client, tenant, "openedx", body, headers={"X-Laurel-Signature": good}))


def test_basic_auth_and_base64_signatures(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    secret = add_secret(client, tenant, "docebo")["secret"]
    body = json.dumps(docebo_completed()).encode()
    basic = base64.b64encode(f"laurel:{secret}".encode()).decode()
    accepted_event(
        post(client, tenant, "docebo", body, headers={"Authorization": f"Basic {basic}"})
    )
    wrong = base64.b64encode(b"laurel:not-the-secret-at-all").decode()
    refused = post(client, tenant, "docebo", body, headers={"Authorization": f"Basic {wrong}"})
    assert refused.status_code == 401
    import hashlib
    import hmac

    b64 = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    again = post(client, tenant, "docebo", body, headers={"X-Docebo-Signature": b64})
    assert again.status_code == 202
    assert again.json()["replayed"] == 1


def test_rotation_both_valid_then_old_retired(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    old = add_secret(client, tenant, "openedx", name="2025")
    new = add_secret(client, tenant, "openedx", name="2026")
    for i, secret in enumerate((old["secret"], new["secret"])):
        body = json.dumps(passing(event_id=f"2f9b6a3e-0000-11ee-8000-00000000000{i}")).encode()
        accepted_event(
            post(
                client, tenant, "openedx", body, headers={"X-Laurel-Signature": sign(body, secret)}
            )
        )
    retired = client.delete(
        f"/api/v1/connectors/openedx/secrets/{old['id']}", headers=tenant.headers
    )
    assert retired.status_code == 200
    assert retired.json()["retired_at"] is not None
    body = json.dumps(passing(event_id="2f9b6a3e-0000-11ee-8000-000000000009")).encode()
    refused = post(
        client, tenant, "openedx", body, headers={"X-Laurel-Signature": sign(body, old["secret"])}
    )
    assert refused.status_code == 401
    accepted_event(
        post(
            client,
            tenant,
            "openedx",
            body,
            headers={"X-Laurel-Signature": sign(body, new["secret"])},
        )
    )
    # Retiring twice is harmless; an unknown secret is a 404.
    again = client.delete(f"/api/v1/connectors/openedx/secrets/{old['id']}", headers=tenant.headers)
    assert again.status_code == 200
    unknown = client.delete(
        "/api/v1/connectors/openedx/secrets/01a215d3-0000-7000-8000-000000000000",
        headers=tenant.headers,
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "connector_secret_not_found"


def test_secret_is_shown_once_and_stored_encrypted(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    created = add_secret(client, tenant, "litmos", name="prod")
    assert created["secret"].startswith("whsec_")
    assert created["hint"] == created["secret"][-4:]
    listed = client.get("/api/v1/connectors/litmos", headers=tenant.headers).json()
    assert [s["id"] for s in listed["secrets"]] == [created["id"]]
    assert "secret" not in listed["secrets"][0]
    assert created["secret"] not in json.dumps(listed)
    with database.read_session() as session:
        row = session.scalars(select(ConnectorSecret)).one()
        assert created["secret"] not in row.secret_encrypted
    # The audit trail records the change, never the secret.
    with database.read_session() as session:
        actions = [
            (e.action, json.dumps(e.details))
            for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))
        ]
    assert any(a == "events:connector_secret:create" for a, _ in actions)
    assert all(created["secret"] not in d for _, d in actions)


def test_source_supplied_secret_and_test_mode(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    api_key = "csod-generated-x-api-key-123456"
    created = add_secret(client, tenant, "cornerstone", secret=api_key, livemode=False)
    assert created["secret"] == api_key
    from tests.events.connectors.test_cornerstone import delivery

    response = post(client, tenant, "cornerstone", delivery(), headers={"x-api-key": api_key})
    from tests.events.connectors.support import stored

    assert stored(database, accepted_event(response)).livemode is False
    short = client.post(
        "/api/v1/connectors/cornerstone/secrets", json={"secret": "short"}, headers=tenant.headers
    )
    assert short.status_code == 422
    assert short.json()["detail"][0]["field"] == "secret"


def test_test_mode_keys_cannot_change_configuration(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    for method, path, body in (
        ("post", "/api/v1/connectors/moodle/secrets", {}),
        ("put", "/api/v1/connectors/moodle/mapping", {"course_ids": ["1"]}),
    ):
        response = client.request(method, path, json=body, headers=tenant.test_headers)
        assert response.status_code == 403, response.text
        assert "test-mode keys cannot change shared configuration" in response.json()["detail"]
    assert table_counts(database)["connector_secrets"] == 0


def test_mapping_is_validated_against_the_connector(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    response = client.put(
        "/api/v1/connectors/canvas/mapping",
        json={"learner_id": "login"},
        headers=tenant.headers,
    )
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "field": "mapping.learner_id",
            "message": "canvas offers user_id, email, sis_id; 'login' is not one of them",
            "type": "value_error",
        }
    ]
    zone = client.put(
        "/api/v1/connectors/docebo/mapping", json={"timezone": "Mars/Base"}, headers=tenant.headers
    )
    assert zone.status_code == 422
    assert zone.json()["detail"][0]["field"] == "timezone"
    unknown = client.put("/api/v1/connectors/nope/mapping", json={}, headers=tenant.headers)
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "unknown_connector"


@pytest.mark.parametrize("where", ["org", "connector"])
def test_unknown_org_or_connector_is_404(
    client: TestClient, tenant: Tenant, database: Database, where: str
) -> None:
    connector = "nope" if where == "connector" else "moodle"
    response = client.post(
        f"/api/v1/webhooks/{connector}",
        params={"org": "nope" if where == "org" else tenant.slug},
        content=b"{}",
    )
    assert response.status_code == 404
    polled = client.post("/api/v1/webhooks/talentlms", params={"org": tenant.slug}, content=b"{}")
    assert polled.status_code == 404
    assert polled.json()["error"] == "connector_not_pushed"


def test_secrets_of_one_organization_do_not_open_another(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    other = make_tenant(database, "globex")
    secret = add_secret(client, tenant, "litmos")["secret"]
    add_secret(client, other, "litmos")
    from tests.events.connectors.test_litmos import achievement

    response = post(client, other, "litmos", achievement(), query={"token": secret})
    assert response.status_code == 401
    assert count_events(database) == 0
