"""A roster far smaller than the one in force (a partial export) is not applied unless meant."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from fastapi.testclient import TestClient

from laurel.db import Database
from tests.conftest import Tenant
from tests.factories import fixed_program
from tests.imports.support import report, upload, write
from tests.imports.test_cli import laurel
from tests.imports.test_roster_exports import earn, holds, latest_import

HEADERS = ["Employee ID", "Worker Status"]


def workers(*numbers: int) -> bytes:
    return report([[f"W{n}", "Active"] for n in numbers], HEADERS)


def test_a_roster_of_fewer_than_half_the_workers_is_refused(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant, eligibility={"roster_verified": True})
    full = upload(client, tenant, workers(*range(1, 41)), kind="roster")
    assert full["status"] == "completed"
    # One department's export: W1–W10 only. W30 would be held not_on_roster if it applied.
    part = upload(client, tenant, workers(*range(1, 11)), kind="roster")
    assert part["status"] == "failed"
    assert part["error"].startswith(
        "roster not applied: it lists 10 active workers, fewer than half of the 40 on the "
        "roster of "
    )
    assert f"(import {full['id']}), which stays in force" in part["error"]
    assert "replace_smaller" in part["error"]
    assert latest_import(database) == uuid.UUID(full["id"])
    assert holds(client, tenant, earn(client, tenant, "e-1", "W30")["id"])[0] == "ready"

    # Half or more is an ordinary roster: W21–W40 leave, and their next rewards are held.
    half = upload(client, tenant, workers(*range(1, 21)), kind="roster")
    assert half["status"] == "completed"
    assert holds(client, tenant, earn(client, tenant, "e-2", "W30")["id"])[0] == "held"


def test_replace_smaller_applies_a_cut_that_is_meant(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant, eligibility={"roster_verified": True})
    upload(client, tenant, workers(*range(1, 41)), kind="roster")
    cut = upload(
        client,
        tenant,
        workers(*range(1, 6)),
        kind="roster",
        options=json.dumps({"replace_smaller": True}),
    )
    assert cut["status"] == "completed", cut
    assert latest_import(database) == uuid.UUID(cut["id"])
    assert holds(client, tenant, earn(client, tenant, "e-1", "W30")["id"])[0] == "held"


def test_only_active_workers_count(client: TestClient, tenant: Tenant, database: Database) -> None:
    """An export that stops listing terminated workers holds nobody who could be paid."""
    rows = [[f"W{n}", "Active"] for n in range(1, 21)]
    rows += [[f"T{n}", "Terminated"] for n in range(1, 101)]
    upload(client, tenant, report(rows, HEADERS), kind="roster")
    active_only = upload(client, tenant, workers(*range(1, 21)), kind="roster")
    assert active_only["status"] == "completed", active_only
    assert latest_import(database) == uuid.UUID(active_only["id"])


def test_small_rosters_are_replaced_whatever_their_size(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    upload(client, tenant, workers(*range(1, 11)), kind="roster")
    one = upload(client, tenant, workers(1), kind="roster")
    assert one["status"] == "completed"
    assert latest_import(database) == uuid.UUID(one["id"])


def test_the_cli_refuses_and_replaces_with_the_flag(
    client: TestClient, tenant: Tenant, database: Database, tmp_path: Path
) -> None:
    upload(client, tenant, workers(*range(1, 41)), kind="roster")
    path = write(tmp_path, "workers.csv", workers(*range(1, 6)))
    refused = laurel("import", "roster", str(path), "--org", tenant.slug, url=database.url)
    assert refused.returncode == 1
    assert "fewer than half of the 40" in refused.stderr
    applied = laurel(
        "import",
        "roster",
        str(path),
        "--org",
        tenant.slug,
        "--replace-smaller",
        url=database.url,
    )
    assert applied.returncode == 0, applied.stderr
    assert "completed: 5 rows, 5 accepted" in applied.stdout
