"""API keys: shown once, hashed, scoped, revocable; test keys stay in test mode."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from laurel.auth.models import ApiKey
from laurel.db import Database
from laurel.kit.clock import utcnow
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


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _listed(client: TestClient, tenant: Tenant, key_id: str) -> dict[str, Any]:
    keys = client.get(KEYS, headers=tenant.headers).json()
    found: dict[str, Any] = next(k for k in keys if k["id"] == key_id)
    return found


def test_key_expires(client: TestClient, tenant: Tenant) -> None:
    past = client.post(
        KEYS,
        headers=tenant.headers,
        json={"scopes": ["read"], "expires_at": (utcnow() - timedelta(minutes=1)).isoformat()},
    )
    assert past.status_code == 422
    assert past.json()["detail"][0]["field"] == "expires_at"
    soon = utcnow() + timedelta(seconds=1.5)
    created = client.post(
        KEYS, headers=tenant.headers, json={"scopes": ["read"], "expires_at": soon.isoformat()}
    ).json()
    assert created["expires_at"] is not None
    assert client.get("/api/v1/rewards", headers=_bearer(created["key"])).status_code == 200
    assert _listed(client, tenant, created["id"])["last_used_at"] is not None
    time.sleep(max(0.0, (soon - utcnow()).total_seconds()) + 0.2)
    # Even a key this process has cached stops at its expiry.
    expired = client.get("/api/v1/rewards", headers=_bearer(created["key"]))
    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]


def test_rotation_overlaps_then_the_old_key_stops(client: TestClient, tenant: Tenant) -> None:
    old = client.post(
        KEYS, headers=tenant.headers, json={"scopes": ["read", "events:write"], "name": "lms"}
    ).json()
    until = utcnow() + timedelta(seconds=1.5)
    rotated = client.post(
        f"{KEYS}/{old['id']}/rotate",
        headers=tenant.headers,
        json={"overlap_until": until.isoformat()},
    )
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()
    assert new["key"] != old["key"]
    assert new["scopes"] == ["events:write", "read"]
    # During the overlap both work.
    assert client.get("/api/v1/rewards", headers=_bearer(old["key"])).status_code == 200
    assert client.get("/api/v1/rewards", headers=_bearer(new["key"])).status_code == 200
    listed = _listed(client, tenant, old["id"])
    assert listed["replaced_by_id"] == new["id"]
    assert listed["expires_at"] is not None
    assert _listed(client, tenant, new["id"])["name"] == "lms"
    again = client.post(
        f"{KEYS}/{old['id']}/rotate",
        headers=tenant.headers,
        json={"overlap_until": until.isoformat()},
    )
    assert again.status_code == 409
    time.sleep(max(0.0, (until - utcnow()).total_seconds()) + 0.2)
    assert client.get("/api/v1/rewards", headers=_bearer(old["key"])).status_code == 401
    assert client.get("/api/v1/rewards", headers=_bearer(new["key"])).status_code == 200

    # Rotating with no overlap ends the old key at once; an unknown key is a 404.
    now = utcnow().isoformat()
    third = client.post(
        f"{KEYS}/{new['id']}/rotate", headers=tenant.headers, json={"overlap_until": now}
    )
    assert third.status_code == 201
    assert client.get("/api/v1/rewards", headers=_bearer(new["key"])).status_code == 401
    missing = client.post(
        f"{KEYS}/01a2150b-e691-72d2-adde-923d14bf4282/rotate",
        headers=tenant.headers,
        json={"overlap_until": now},
    )
    assert missing.status_code == 404
