"""An access request's archive holds every table's rows about the learner, and nothing else."""

from __future__ import annotations

import csv
import io
import json
import uuid
import zipfile
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Table, select

from laurel.db import Database
from laurel.models import Base
from laurel.privacy import subject
from tests.conftest import Tenant
from tests.privacy.support import populate

# Columns that name a person without a foreign key to learners.
PERSON_COLUMNS = {"learner_id", "learner_key", "email", "employee_id", "learner"}


def _refers_to_learners(table: Table, seen: frozenset[str] = frozenset()) -> bool:
    for fk in table.foreign_keys:
        parent = fk.column.table
        if parent.name == "learners":
            return True
        if (
            parent.name not in seen
            and parent.name != table.name
            and _refers_to_learners(parent, seen | {table.name})
        ):
            return True
    return False


def test_every_table_is_placed_and_every_table_about_learners_is_exported() -> None:
    tables = set(Base.metadata.tables)
    unplaced = sorted(tables - subject.placed())
    assert unplaced == [], (
        f"tables not placed in laurel/privacy/subject.py: {unplaced}. Link them (rows about a "
        "learner go into access archives) or exclude them with the reason."
    )
    about = {
        name
        for name, table in Base.metadata.tables.items()
        if _refers_to_learners(table) or PERSON_COLUMNS & set(table.c.keys())
    }
    exported = {"learners"} | set(subject.LINKS) | set(subject.RULES)
    wrongly_excluded = sorted(about - exported - {"dead_letters", "import_rejections"})
    assert wrongly_excluded == [], f"tables about learners left out of exports: {wrongly_excluded}"
    assert set(subject.EXCLUDED) & exported == set()
    for link in subject.LINKS.values():
        assert link.parent in exported
        assert link.column in Base.metadata.tables[link.table].c


def _expected(session: Any, organization_id: uuid.UUID, learner: uuid.UUID) -> dict[str, set[str]]:
    """Rows reaching the learner through foreign keys, found by walking the schema itself."""
    found: dict[str, set[str]] = {"learners": {str(learner)}}
    changed = True
    while changed:
        changed = False
        for name, table in Base.metadata.tables.items():
            if "id" not in table.c or "organization_id" not in table.c:
                continue
            for fk in table.foreign_keys:
                parent = fk.column.table.name
                if parent not in found or parent == name:
                    continue
                ids = [uuid.UUID(i) for i in found[parent]]
                rows = session.scalars(
                    select(table.c.id).where(
                        table.c.organization_id == organization_id, fk.parent.in_(ids)
                    )
                )
                new = {str(r) for r in rows} - found.get(name, set())
                if new:
                    found.setdefault(name, set()).update(new)
                    changed = True
    return found


def _archive(
    client: TestClient, tenant: Tenant, learner: str
) -> tuple[dict[str, Any], zipfile.ZipFile]:
    opened = client.post(
        "/api/v1/privacy/requests",
        headers=tenant.headers,
        json={"learner_id": learner, "kind": "access"},
    )
    assert opened.status_code == 201, opened.text
    request = opened.json()
    got = client.get(f"/api/v1/privacy/requests/{request['id']}/archive", headers=tenant.headers)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/zip"
    return request, zipfile.ZipFile(io.BytesIO(got.content))


def test_archive_holds_everything_about_the_learner_and_nothing_else(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    people = populate(client, tenant)
    request, archive = _archive(client, tenant, people.a)
    data = json.loads(archive.read("data.json"))
    tables: dict[str, list[dict[str, Any]]] = data["tables"]
    a, b = uuid.UUID(people.a), uuid.UUID(people.b)
    with database.read_session() as session:
        mine = _expected(session, tenant.id, a)
        theirs = _expected(session, tenant.id, b)
    # The walk reaches well into the schema; the export has exactly its rows.
    for name in (
        "learners",
        "completion_events",
        "rewards",
        "deliveries",
        "consent_records",
        "privacy_requests",
        "sandbox_issuances",
        "budget_reservations",
    ):
        assert name in tables, f"{name} missing from the archive"
    for name, ids in mine.items():
        assert {str(r["id"]) for r in tables.get(name, [])} == ids, name
    for name, rows in tables.items():
        # learning_pairs has no id (its key is learner and course); its rows name the learner.
        assert all(r["learner_id"] == str(a) for r in rows if "id" not in r), name
        exported = {str(r["id"]) for r in rows if "id" in r}
        assert not exported & theirs.get(name, set()), f"{name} leaks the other learner's rows"
    assert len(tables["rewards"]) == 2
    assert {r["idempotency_key"] for r in tables["sandbox_issuances"]} == set(
        people.rewards["E1001"]
    )
    assert [r["employee_id"] for r in tables["roster_entries"]] == ["E1001"]
    targets = {(e["target_type"], e["target_id"]) for e in tables["audit_entries"]}
    assert ("learner", people.a) in targets
    assert {("reward", r) for r in people.rewards["E1001"]} <= targets
    assert not {t for _, t in targets} & ({people.b} | set(people.rewards["E2002"]))
    assert tables["learners"][0]["name"] == "Ana Díaz"
    assert tables["consent_records"][0]["purpose"] == "reward_delivery"
    # The same rows as CSV, one file per table.
    for name, rows in tables.items():
        parsed = list(csv.DictReader(io.StringIO(archive.read(f"csv/{name}.csv").decode())))
        key = "id" if not rows or "id" in rows[0] else "course_id"  # learning_pairs: no id
        assert [r[key] for r in parsed] == [str(r[key]) for r in rows]
    assert b"Bo Berg" not in archive.read("data.json")
    assert "README.txt" in archive.namelist()

    # Producing it is a sensitive read, and it answered the request.
    done = client.get(f"/api/v1/privacy/requests/{request['id']}", headers=tenant.headers).json()
    assert done["status"] == "completed"
    assert done["outcome"]["rows"]["rewards"] == 2
    assert done["outcome"]["on_time"] is True
    entries = client.get(
        "/api/v1/audit",
        headers=tenant.headers,
        params={"target_type": "privacy_request", "target_id": request["id"]},
    ).json()
    actions = [e["action"] for e in reversed(entries)]
    assert actions == [
        "privacy:request:open",
        "privacy:access_export:read",
        "privacy:request:complete",
    ]
    read = entries[1]
    assert read["details"]["learner_id"] == people.a
    assert "Ana" not in json.dumps(entries)


def test_archive_of_another_organization_is_not_found(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    from tests.conftest import make_tenant

    people = populate(client, tenant)
    request, _ = _archive(client, tenant, people.a)
    other = make_tenant(database, "globex")
    for path in (
        f"/api/v1/privacy/requests/{request['id']}",
        f"/api/v1/privacy/requests/{request['id']}/archive",
        f"/api/v1/privacy/learners/{people.a}",
    ):
        assert client.get(path, headers=other.headers).status_code == 404
    refused = client.post(
        "/api/v1/privacy/requests",
        headers=other.headers,
        json={"learner_id": people.a, "kind": "access"},
    )
    assert refused.status_code == 404
