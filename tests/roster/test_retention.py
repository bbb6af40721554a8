"""Roster retention: only the newest rosters stay; the gate keeps reading the latest one."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from laurel.audit.models import AuditEntry
from laurel.db import Database
from laurel.imports.models import ImportRejection
from laurel.kit.clock import utcnow
from laurel.privacy import sweep
from laurel.roster import service as roster
from laurel.roster.models import Roster, RosterEntry
from tests.conftest import Tenant
from tests.factories import fixed_program
from tests.imports.support import report, upload
from tests.imports.test_cli import laurel
from tests.roster.test_gate import earn, reward

HEADERS = ["Employee ID", "Worker Status"]


def roster_file(client: TestClient, tenant: Tenant, *rows: list[str]) -> dict[str, Any]:
    # One bad line each (an unknown status), so every roster import has a rejected line too.
    body = upload(client, tenant, report([*rows, ["BAD", "???"]], HEADERS), kind="roster")
    assert (body["accepted"], body["rejected"]) == (len(rows), 1), body
    return body


def stored(database: Database) -> tuple[int, int, int]:
    with database.sessionmaker() as session:
        return (
            session.scalar(select(func.count()).select_from(Roster)) or 0,
            session.scalar(select(func.count()).select_from(RosterEntry)) or 0,
            session.scalar(select(func.count()).select_from(ImportRejection)) or 0,
        )


def test_older_rosters_are_pruned_and_the_latest_still_decides(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant, eligibility={"roster_verified": True})
    first = roster_file(client, tenant, ["W1", "Active"], ["W2", "Active"])
    roster_file(client, tenant, ["W1", "Active"])
    roster_file(client, tenant, ["W1", "Active"], ["W3", "Active"])
    assert stored(database) == (3, 5, 3)
    held = earn(client, tenant, "e-1", "W4")
    assert held["hold_reasons"][0]["reason"] == "not_on_roster"
    # Three rosters, keep three: nothing goes.
    kept = sweep.retention_all(database, now=utcnow(), actor="test", roster_keep=3)
    assert (kept.rosters_pruned, kept.roster_entries_deleted) == (0, 0)
    latest = roster_file(client, tenant, ["W1", "Active"], ["W3", "Active"], ["W4", "Active"])
    # The new roster released the held reward (the re-check reads the latest roster).
    assert reward(client, tenant, held["id"])["state"] != "held"
    totals = sweep.retention_all(database, now=utcnow(), actor="test", roster_keep=2)
    assert (totals.rosters_pruned, totals.roster_entries_deleted) == (2, 3)
    assert stored(database) == (2, 5, 2)
    with database.sessionmaker() as session:
        imports = set(session.scalars(select(Roster.import_id)))
        assert str(first["id"]) not in {str(i) for i in imports}
        assert str(latest["id"]) in {str(i) for i in imports}
        now_latest = roster.latest(session, tenant.id)
        assert now_latest is not None
        assert str(now_latest.import_id) == latest["id"]
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "roster:roster:prune")
        ).one()
        assert entry.details["entries_deleted"] == 3
    # W2 was only on the pruned first roster: the gate reads the latest, which lacks W2.
    w2 = earn(client, tenant, "e-2", "W2")
    assert w2["state"] == "held"
    assert earn(client, tenant, "e-3", "W3")["hold_reasons"] == []
    # Keeping one leaves exactly the latest roster; running again deletes nothing more.
    sweep.retention_all(database, now=utcnow(), actor="test", roster_keep=1)
    again = sweep.retention_all(database, now=utcnow(), actor="test", roster_keep=1)
    assert again.rosters_pruned == 0
    assert stored(database) == (1, 3, 1)
    # A roster that arrives after pruning re-checks held rewards against itself.
    roster_file(client, tenant, ["W2", "Active"])
    assert reward(client, tenant, w2["id"])["hold_reasons"] == []


def test_prune_refuses_to_drop_the_latest(database: Database, tenant: Tenant) -> None:
    with database.session() as session, pytest.raises(ValueError, match="latest"):
        roster.prune(session, tenant.id, keep=0, actor="test")


def test_cli_prunes_with_the_keep_it_is_given(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    for n in range(3):
        roster_file(client, tenant, [f"W{n}", "Active"])
    done = laurel("privacy", "retention", "run", "--roster-keep", "1", url=database.url)
    assert done.returncode == 0, done.stderr
    assert "pruned 2 HR roster(s) (2 entries)" in done.stdout
    assert stored(database) == (1, 1, 1)


def test_a_refused_roster_goes_once_older_than_every_roster_kept(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    roster_file(client, tenant, ["W1", "Active"])
    # Every row unreadable: refused, no roster of its own; its rejected lines stay to be read.
    bad = report([["X1", "???"], ["X2", "???"]], HEADERS)
    refused = upload(client, tenant, bad, kind="roster")
    assert (refused["status"], refused["rejected"]) == ("failed", 2), refused
    assert stored(database) == (1, 1, 3)
    # Newer than the only roster kept: its lines stay.
    sweep.retention_all(database, now=utcnow(), actor="test", roster_keep=1)
    assert stored(database) == (1, 1, 3)
    roster_file(client, tenant, ["W1", "Active"], ["W2", "Active"])
    totals = sweep.retention_all(database, now=utcnow(), actor="test", roster_keep=1)
    assert totals.rosters_pruned == 1
    assert stored(database) == (1, 2, 1)
    with database.sessionmaker() as session:
        imports = {str(i) for i in session.scalars(select(ImportRejection.import_id))}
        assert refused["id"] not in imports
