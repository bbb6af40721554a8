"""Roster entries keep no email or manager in clear: sealed under the key ring, matched to
learners by the blind index a learner's email has, re-encrypted and re-indexed by rotation,
opened in access archives, sealed by migration 0025 when they were written in clear."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from typing import Any

from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select, text

from laurel import migrate
from laurel.app import create_app
from laurel.config import Settings
from laurel.db import Database
from laurel.kit import crypto
from laurel.learners.models import Learner
from laurel.roster import sealed
from laurel.roster import service as roster
from laurel.roster.models import RosterEntry
from tests.conftest import Tenant
from tests.imports.support import report, upload
from tests.roster.test_gate import WORKDAY

EMAIL = "mia.roe@example.com"
MANAGER = "Bartholomew Quaye-Ostrander"
NEW = base64.b64encode(b"\x03" * 32).decode()


def _roster(client: TestClient, tenant: Tenant) -> None:
    done = upload(
        client,
        tenant,
        report(
            [
                # HR's id differs from the LMS's (L-1): only the email can match her.
                ["X-9", "Mia.Roe@Example.com", "Active", "Finance", MANAGER, "Employee", "US", ""],
                ["X-10", "", "Active", "Ops", "", "Employee", "US", ""],
            ],
            WORKDAY,
        ),
        kind="roster",
    )
    assert (done["accepted"], done["rejected"]) == (2, 0), done


def _learner(client: TestClient, tenant: Tenant) -> dict[str, Any]:
    made = client.post(
        "/api/v1/learners",
        headers=tenant.headers,
        json={"external_id": "L-1", "email": "MIA.ROE@example.com"},
    )
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    return body


def _raw(database: Database) -> list[dict[str, Any]]:
    with database.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(text("SELECT * FROM roster_entries"))]


def _no_plain(rows: list[dict[str, Any]]) -> None:
    cells = json.dumps(rows, default=str).lower()
    assert EMAIL not in cells
    assert MANAGER.lower() not in cells


def _found(database: Database, email: str) -> tuple[str | None, str | None, str | None]:
    with database.session() as session:
        tenant_id = session.scalars(select(RosterEntry.organization_id)).first()
        assert tenant_id is not None
        latest = roster.latest(session, tenant_id)
        assert latest is not None
        entry = roster.find(session, latest, "not-an-employee-id", email)
        if entry is None:
            return None, None, None
        return entry.email, entry.manager, entry.email_index


def test_sealed_at_rest_matched_by_email_and_opened_for_the_learner_and_archive(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    learner = _learner(client, tenant)
    _roster(client, tenant)
    rows = _raw(database)
    _no_plain(rows)
    assert "email" not in rows[0]
    assert "manager" not in rows[0]
    mia = next(r for r in rows if r["employee_id"] == "X-9")
    assert mia["email_sealed"].startswith("lk1:")
    assert mia["manager_sealed"].startswith("lk1:")
    other = next(r for r in rows if r["employee_id"] == "X-10")
    assert (other["email_sealed"], other["email_index"], other["manager_sealed"]) == (None,) * 3

    # Matched by email (any case), the learner took the manager, now sealed under her key.
    got = client.get(f"/api/v1/learners/{learner['id']}", headers=tenant.headers).json()
    assert (got["department"], got["manager"]) == ("Finance", MANAGER)
    email, manager, index = _found(database, "  Mia.ROE@example.COM ")
    assert (email, manager) == (EMAIL, MANAGER)
    with database.session() as session:
        stored = session.scalars(select(Learner.email_index)).one()
    # One blind index for both: a learner's and an entry's of the same address are equal.
    assert index == stored
    assert _found(database, "someone.else@example.com") == (None, None, None)

    opened = client.post(
        "/api/v1/privacy/requests",
        headers=tenant.headers,
        json={"learner_id": learner["id"], "kind": "access"},
    )
    assert opened.status_code == 201, opened.text
    archive = client.get(
        f"/api/v1/privacy/requests/{opened.json()['id']}/archive", headers=tenant.headers
    )
    assert archive.status_code == 200, archive.text
    data = json.loads(zipfile.ZipFile(io.BytesIO(archive.content)).read("data.json"))
    entries = data["tables"]["roster_entries"]
    assert [(e["employee_id"], e["email"], e["manager"]) for e in entries] == [
        ("X-9", EMAIL, MANAGER)
    ]
    assert not {"email_sealed", "manager_sealed", "email_index"} & set(entries[0])

    # Erasing her deletes the entry found by her email.
    erased = client.post(
        "/api/v1/privacy/requests",
        headers=tenant.headers,
        json={"learner_id": learner["id"], "kind": "deletion"},
    )
    assert erased.status_code == 201, erased.text
    done = client.post(
        f"/api/v1/privacy/requests/{erased.json()['id']}/fulfil", headers=tenant.headers
    ).json()
    assert done["outcome"]["deleted"]["roster_entries"] == 1
    assert [r["employee_id"] for r in _raw(database)] == ["X-10"]


def test_rotate_re_encrypts_and_re_indexes_entries_while_matching_goes_on(
    client: TestClient, tenant: Tenant, database: Database, settings: Settings
) -> None:
    _roster(client, tenant)
    before = next(r for r in _raw(database) if r["employee_id"] == "X-9")
    old = crypto.key_id_of(before["email_sealed"])
    assert before["email_index"].startswith(f"{old}:")
    rotated = settings.model_copy(update={"encryption_keys": SecretStr(f"k1:{NEW}")})
    with TestClient(create_app(rotated, database)):
        # The new key is current: entries indexed under the old one are still found.
        assert _found(database, EMAIL)[:2] == (EMAIL, MANAGER)
        done = list(crypto.rotate_batches(database, database.key_ring, batch=1))
        by_column = {f"{d.column.table}.{d.column.column}": d.rewritten for d in done}
        assert by_column["roster_entries.email_sealed"] == 1
        assert by_column["roster_entries.manager_sealed"] == 1
        assert by_column["roster_entries.email_index"] == 1
        after = next(r for r in _raw(database) if r["employee_id"] == "X-9")
        assert after["email_sealed"].startswith("lk1:k1:")
        assert after["manager_sealed"].startswith("lk1:k1:")
        assert after["email_index"].startswith("k1:")
        assert _found(database, EMAIL)[:2] == (EMAIL, MANAGER)
        again = list(crypto.rotate_batches(database, database.key_ring, batch=1))
        assert sum(d.rewritten for d in again if d.column.table == "roster_entries") == 0
        # A learner first seen now takes the roster's manager, matched by the new index.
        made = client.post(
            "/api/v1/learners",
            headers=tenant.headers,
            json={"external_id": "L-2", "email": EMAIL},
        )
        assert made.status_code == 201, made.text
        got = client.get(f"/api/v1/learners/{made.json()['id']}", headers=tenant.headers)
        assert got.json()["manager"] == MANAGER
    _no_plain(_raw(database))


def test_migration_seals_entries_written_in_clear_and_downgrade_opens_them(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    _roster(client, tenant)
    migrate.downgrade(database, "0024")
    rows = _raw(database)
    mia = next(r for r in rows if r["employee_id"] == "X-9")
    assert (mia["email"], mia["manager"]) == (EMAIL, MANAGER)
    assert "email_sealed" not in mia
    migrate.upgrade(database)
    rows = _raw(database)
    _no_plain(rows)
    mia = next(r for r in rows if r["employee_id"] == "X-9")
    assert mia["email_index"] == sealed.indexes(database.key_ring, EMAIL)[0]
    assert _found(database, EMAIL)[:2] == (EMAIL, MANAGER)
    learner = _learner(client, tenant)
    got = client.get(f"/api/v1/learners/{learner['id']}", headers=tenant.headers).json()
    assert got["manager"] == MANAGER
