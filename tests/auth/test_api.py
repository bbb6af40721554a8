"""API keys: shown once, hashed, scoped, revocable; test keys stay in test mode."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from laurel.auth.models import ApiKey
from laurel.db import Database
from tests.conftest import Tenant, completion

KEYS = "/api/v1/api-keys"


def test_key_shown_once_and_stored_hashed(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    created = client.post(
        KEYS, headers=tenant.headers, json={"scopes": ["events:write"], "name": "moodle"}
    )
    assert created.status_code == 201
    secret = created.json()["key"]
    assert secret.startswith("lrl_live_")
    with database.sessionmaker() as session:
        stored = session.scalars(select(ApiKey.key_hash)).all()
    assert secret not in stored
    listed = client.get(KEYS, headers=tenant.headers).json()
    assert "key" not in listed[0]
    assert {k["name"] for k in listed} >= {"moodle"}


def test_revoked_key_stops_working(client: TestClient, tenant: Tenant) -> None:
    created = client.post(KEYS, headers=tenant.headers, json={"scopes": ["read"]}).json()
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert client.get("/api/v1/rewards", headers=headers).status_code == 200
    assert client.delete(f"{KEYS}/{created['id']}", headers=tenant.headers).status_code == 204
    assert client.get("/api/v1/rewards", headers=headers).status_code == 401
    missing = client.delete(f"{KEYS}/01a2150b-e691-72d2-adde-923d14bf4282", headers=tenant.headers)
    assert missing.status_code == 404


def test_bad_scopes_named(client: TestClient, tenant: Tenant) -> None:
    response = client.post(KEYS, headers=tenant.headers, json={"scopes": ["root"]})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "scopes"


def test_test_key_cannot_reach_live_configuration(client: TestClient, tenant: Tenant) -> None:
    live_key = client.post(
        KEYS, headers=tenant.test_headers, json={"scopes": ["admin"], "mode": "live"}
    )
    assert live_key.status_code == 403
    test_key = client.post(
        KEYS, headers=tenant.test_headers, json={"scopes": ["events:write"], "mode": "test"}
    )
    assert test_key.status_code == 201
    assert test_key.json()["key"].startswith("lrl_test_")
    assert {k["mode"] for k in client.get(KEYS, headers=tenant.test_headers).json()} == {"test"}
    program = client.post(
        "/api/v1/programs",
        headers=tenant.test_headers,
        json={"key": "p", "template": "microlearning"},
    )
    assert program.status_code == 403
    assert client.get("/api/v1/audit", headers=tenant.test_headers).status_code == 403
    # Reading the shared configuration is fine: an integrator needs to see the programs.
    assert client.get("/api/v1/programs", headers=tenant.test_headers).status_code == 200


def test_test_key_events_stay_test(client: TestClient, tenant: Tenant) -> None:
    created = client.post(
        KEYS, headers=tenant.test_headers, json={"scopes": ["events:write", "read"], "mode": "test"}
    ).json()
    headers = {"Authorization": f"Bearer {created['key']}"}
    event = client.post("/api/v1/completions", json=completion(), headers=headers)
    assert event.json()["livemode"] is False
    assert (
        client.get(f"/api/v1/events/{event.json()['id']}", headers=tenant.headers).status_code
        == 404
    )
