"""`laurel tax export ...` as finance runs it: a real process against a real database."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from laurel.audit.models import AuditEntry
from laurel.db import Database
from tests.cli.test_commands import laurel
from tests.conftest import Tenant
from tests.factories import fixed_program
from tests.tax.support import PAYER, deliver_at, earn, settings


def test_exports_write_files_and_are_audited(
    client: TestClient, tenant: Tenant, database: Database, tmp_path: Path
) -> None:
    settings(client, tenant, **PAYER)
    fixed_program(client, tenant, amount="40.00")
    reward = earn(client, tenant, "e-1", learner="S1")
    deliver_at(database, reward["id"], datetime(2026, 5, 1, 12, tzinfo=UTC))
    out = tmp_path / "totals.csv"
    done = laurel(
        "tax",
        "export",
        "totals",
        "--org",
        tenant.slug,
        "--year",
        "2026",
        "--out",
        str(out),
        url=database.url,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {out}")
    [row] = list(csv.DictReader(out.read_text(encoding="utf-8").splitlines()))
    assert (row["learner_external_id"], row["total_usd"], row["form_type"]) == (
        "S1",
        "40.00",
        "1099-MISC",
    )
    iris = laurel(
        "tax",
        "export",
        "iris",
        "--org",
        tenant.slug,
        "--year",
        "2026",
        "--form",
        "nec",
        url=database.url,
        cwd=tmp_path,
    )
    assert iris.returncode == 0, iris.stderr
    assert (tmp_path / "iris-1099nec-2026.csv").read_text().startswith("Form Type,Tax Year,")
    wrong = laurel(
        "tax", "export", "fire", "--org", tenant.slug, "--year", "2026", url=database.url
    )
    assert wrong.returncode == 2
    assert wrong.stderr.startswith("error: --year: FIRE takes tax years up to 2025")
    with database.session() as session:
        actors = [
            (e.action, e.actor)
            for e in session.scalars(
                select(AuditEntry).where(AuditEntry.action.like("tax:export:%"))
            )
        ]
    assert [a for a, _ in actors] == ["tax:export:totals-csv", "tax:export:iris-nec"]
    assert all(actor.startswith("cli:") for _, actor in actors)
