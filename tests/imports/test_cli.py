"""`laurel import` as an operator runs it, including a crash halfway and the resume."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from laurel.db import Database
from laurel.events.models import CompletionEvent
from laurel.imports.models import Import
from laurel.kit.clock import utcnow
from laurel.rewards.models import Reward
from tests.conftest import Tenant
from tests.factories import backdate_program, fixed_program
from tests.imports.support import good_row, report, write


def laurel(
    *args: str, url: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "laurel", *args],
        env=os.environ | {"LAUREL_DATABASE_URL": url} | (env or {}),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def state(database: Database) -> tuple[int, int, list[tuple[str, int, int, int]]]:
    with database.sessionmaker() as session:
        events = session.scalar(select(func.count()).select_from(CompletionEvent)) or 0
        rewards = session.scalar(select(func.count()).select_from(Reward)) or 0
        imports = [
            (i.status, i.rows_read, i.accepted, i.rewards)
            for i in session.scalars(select(Import).order_by(Import.id))
        ]
    return events, rewards, imports


def test_crash_midway_then_the_same_command_resumes_without_duplicates(
    client: TestClient, tenant: Tenant, database: Database, tmp_path: Path
) -> None:
    program = fixed_program(client, tenant)
    backdate_program(database, program["id"], utcnow() - timedelta(days=30))
    rows = [good_row(n) for n in range(7)] + [["", "", "", "", "", "", ""]]
    rows.append(["E99", "", "", "", "", "", ""])  # no course, no date: rejected
    path = write(tmp_path, "report.csv", report(rows))
    args = ("import", "completions", str(path), "--org", tenant.slug, "--chunk-rows", "3")
    # Killed after the first chunk committed: 3 rows are in, with their counters.
    crashed = laurel(*args, url=database.url, env={"LAUREL_FAULTS": "imports.after_chunk_commit"})
    assert crashed.returncode == 86, crashed.stderr
    assert state(database) == (3, 3, [("running", 3, 3, 3)])
    # Killed inside the second chunk's transaction: none of its rows stay.
    crashed = laurel(*args, url=database.url, env={"LAUREL_FAULTS": "imports.before_chunk_commit"})
    assert crashed.returncode == 86
    assert state(database) == (3, 3, [("running", 3, 3, 3)])
    resumed = laurel(*args, "--rejects", str(tmp_path / "bad.csv"), url=database.url)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming import" in resumed.stderr
    assert "7 accepted, 0 already imported, 1 rejected, 7 rewards" in resumed.stdout
    assert "line 10: Course Code: empty: a row needs a course id" in resumed.stderr
    assert state(database) == (7, 7, [("completed", 8, 7, 7)])
    rejected = (tmp_path / "bad.csv").read_text().splitlines()
    assert rejected[0].startswith("line,errors,User ID")
    assert rejected[1].startswith("10,")
    # Done: the same file again is a new import whose rows are all replays.
    again = laurel(*args, url=database.url)
    assert "0 accepted, 7 already imported, 1 rejected, 0 rewards" in again.stdout
    assert state(database)[:2] == (7, 7)


def test_roster_command_and_bad_file(database: Database, tenant: Tenant, tmp_path: Path) -> None:
    roster = write(
        tmp_path,
        "workers.csv",
        report([["E1", "Active"], ["E2", "On Leave"]], ["Employee ID", "Worker Status"]),
    )
    done = laurel("import", "roster", str(roster), "--org", tenant.slug, url=database.url)
    assert done.returncode == 0, done.stderr
    assert "completed: 2 rows, 2 accepted" in done.stdout
    wrong = write(tmp_path, "wrong.csv", report([["x"]], ["Nothing"]))
    refused = laurel("import", "completions", str(wrong), "--org", tenant.slug, url=database.url)
    assert refused.returncode == 2
    assert "error: course_id: no column for course_id" in refused.stderr


def test_amount_override_through_the_cli(
    client: TestClient, tenant: Tenant, database: Database, tmp_path: Path
) -> None:
    program = fixed_program(client, tenant, amount="25.00")
    backdate_program(database, program["id"], utcnow() - timedelta(days=30))
    day = (utcnow() - timedelta(days=1)).date().isoformat()
    path = write(
        tmp_path,
        "overrides.csv",
        report(
            [["A1", "SEC-101", day, "60.00"], ["A2", "SEC-101", day, "7.001"]],
            ["User ID", "Course Code", "Completion Date", "Reward Amount"],
        ),
    )
    done = laurel(
        "import", "completions", str(path), "--org", tenant.slug, "--rejects",
        str(tmp_path / "bad.csv"), url=database.url,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "1 accepted, 0 already imported, 1 rejected, 1 rewards" in done.stdout
    assert "line 3: Reward Amount: not exact money in the program currency" in done.stderr
    with database.sessionmaker() as session:
        reward = session.scalars(select(Reward)).one()
    assert (reward.amount_minor, reward.currency) == (6000, "USD")
    assert reward.calculation["kind"] == "override"
