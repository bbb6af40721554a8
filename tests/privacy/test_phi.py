"""HIPAA: PHI kept apart, encrypted at rest, every read audited, erased with the learner."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import zipfile

from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import text

from laurel.app import create_app
from laurel.config import Settings
from laurel.db import Database
from laurel.kit import crypto
from tests.conftest import Tenant
from tests.privacy.support import populate


def _hipaa(database: Database, slug: str, on: bool = True) -> None:
    env = os.environ | {"LAUREL_DATABASE_URL": database.url}
    flag = "--on" if on else "--off"
    done = subprocess.run(
        [sys.executable, "-m", "laurel", "org", "hipaa", slug, flag],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_phi_only_in_hipaa_organizations_and_every_read_is_audited(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    people = populate(client, tenant)
    path = f"/api/v1/privacy/learners/{people.a}/phi"
    body = {"fields": {"accommodation": "screen reader", "diagnosis_code": "H54.0"}}
    refused = client.put(path, headers=tenant.headers, json=body)
    assert refused.status_code == 409
    assert refused.json()["error"] == "organization_not_hipaa"

    _hipaa(database, tenant.slug)
    written = client.put(path, headers=tenant.headers, json=body)
    assert written.status_code == 200, written.text
    assert written.json() == {"fields": body["fields"]}
    with database.engine.connect() as conn:
        stored = [r[0] for r in conn.execute(text("SELECT value_encrypted FROM phi_records"))]
    assert len(stored) == 2
    assert all(v.startswith("lk1:k0:") and "H54" not in v and "screen" not in v for v in stored)

    for _ in range(2):
        assert client.get(path, headers=tenant.headers).json() == {"fields": body["fields"]}
    reads = client.get(
        "/api/v1/audit", headers=tenant.headers, params={"action": "privacy:phi:read"}
    ).json()
    assert len(reads) == 3  # the PUT answers with a read too
    assert reads[0]["details"] == {"sensitive": True, "fields": ["accommodation", "diagnosis_code"]}
    assert "H54" not in json.dumps(client.get("/api/v1/audit", headers=tenant.headers).json())
    # PHI never appears on the learner itself.
    assert "H54" not in client.get(f"/api/v1/learners/{people.a}", headers=tenant.headers).text

    removed = client.put(path, headers=tenant.headers, json={"fields": {"diagnosis_code": None}})
    assert removed.json() == {"fields": {"accommodation": "screen reader"}}
    bad = client.put(path, headers=tenant.headers, json={"fields": {"Bad Name": "x"}})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["field"] == "Bad Name"

    access = client.post(
        "/api/v1/privacy/requests",
        headers=tenant.headers,
        json={"learner_id": people.a, "kind": "access"},
    ).json()
    archive = client.get(f"/api/v1/privacy/requests/{access['id']}/archive", headers=tenant.headers)
    data = json.loads(zipfile.ZipFile(io.BytesIO(archive.content)).read("data.json"))
    assert [r["value_encrypted"] for r in data["tables"]["phi_records"]] == ["screen reader"]

    deletion = client.post(
        "/api/v1/privacy/requests",
        headers=tenant.headers,
        json={"learner_id": people.a, "kind": "deletion"},
    ).json()
    done = client.post(
        f"/api/v1/privacy/requests/{deletion['id']}/fulfil", headers=tenant.headers
    ).json()
    assert done["outcome"]["deleted"]["phi_records"] == 1
    assert client.get(path, headers=tenant.headers).json() == {"fields": {}}


NEW = base64.b64encode(b"\x01" * 32).decode()


def test_rotate_re_encrypts_registered_columns_while_reads_go_on(
    client: TestClient, tenant: Tenant, database: Database, settings: Settings
) -> None:
    people = populate(client, tenant)
    with database.session() as session:
        from laurel.privacy import phi

        phi.set_hipaa(session, tenant.id, enabled=True, actor="test")
    path = f"/api/v1/privacy/learners/{people.a}/phi"
    body = {"fields": {"accommodation": "screen reader", "allergy": "latex"}}
    assert client.put(path, headers=tenant.headers, json=body).status_code == 200
    assert ("phi_records", "value_encrypted") in {(c.table, c.column) for c in crypto.registered()}

    # A release with the new key first serves reads of old values before any rotation.
    rotated = settings.model_copy(update={"encryption_keys": SecretStr(f"k1:{NEW}")})
    with TestClient(create_app(rotated, database)) as during:
        assert during.get(path, headers=tenant.headers).json() == body
        env = os.environ | {
            "LAUREL_DATABASE_URL": database.url,
            "LAUREL_ENCRYPTION_KEYS": f"k1:{NEW}",
        }
        command = [sys.executable, "-m", "laurel", "keys", "rotate", "--batch", "1"]
        first = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        assert first.returncode == 0, first.stderr
        assert "phi_records.value_encrypted: 2 re-encrypted under k1" in first.stdout
        assert during.get(path, headers=tenant.headers).json() == body
    with database.engine.connect() as conn:
        stored = [r[0] for r in conn.execute(text("SELECT value_encrypted FROM phi_records"))]
    assert len(stored) == 2
    assert all(v.startswith("lk1:k1:") for v in stored)
    again = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert "phi_records.value_encrypted: 0 re-encrypted under k1" in again.stdout
    # Once rotated, the old key can go.
    only_new = settings.model_copy(
        update={"encryption_keys": SecretStr(f"k1:{NEW}"), "secret_key": "another-secret" * 3}
    )
    with TestClient(create_app(only_new, database)) as after:
        assert after.get(path, headers=tenant.headers).json() == body
