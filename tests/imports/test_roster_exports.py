"""Rosters as Workday and ADP export them: US hire dates, several rows per worker, lifecycle
statuses, and a file that is mostly wrong never replacing the roster in force."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from laurel.audit.models import AuditEntry
from laurel.db import Database
from laurel.imports import service
from laurel.imports.columns import resolve
from laurel.imports.models import FileFormat, Import, ImportKind
from laurel.imports.parse import Options, RowErrors, date_order, roster
from laurel.imports.readers import Row
from laurel.roster.models import Roster, RosterEntry
from tests.conftest import Tenant, completion
from tests.factories import fixed_program
from tests.imports.support import report, upload, write
from tests.imports.test_cli import laurel

ADP = [
    "Associate ID",
    "Work Contact: Work Email",
    "Position Status",
    "Home Department Description",
    "Reports To Name",
    "Worker Category Description",
    "Hire Date",
]
ADP_PRIMARY = [*ADP, "Primary Position"]
WORKDAY = ["Employee ID", "Worker", "Email - Primary Work", "Worker Status", "Hire Date"]


def adp(worker: str, status: str, hired: str = "", department: str = "Sales") -> list[str]:
    return [worker, f"{worker.lower()}@example.com", status, department, "Kim", "Employee", hired]


def earn(client: TestClient, tenant: Tenant, event: str, learner: str) -> dict[str, Any]:
    body = completion(event, learner=learner, course=f"C-{event}")
    body["learner"] = {"external_id": learner, "email": f"{learner.lower()}@example.com"}
    response = client.post("/api/v1/completions", headers=tenant.headers, json=body)
    assert response.status_code == 202, response.text
    found: dict[str, Any] = response.json()["rewards"][0]
    return found


def holds(client: TestClient, tenant: Tenant, reward_id: str) -> tuple[str, list[str]]:
    found = client.get(f"/api/v1/rewards/{reward_id}", headers=tenant.headers).json()
    return found["state"], [h["message"] for h in found["hold_reasons"]]


def entries(database: Database, import_id: str) -> dict[str, tuple[Any, ...]]:
    """The roster entries an import stored: employee id → (status, department, hire date, line)."""
    with database.sessionmaker() as session:
        rows = session.scalars(
            select(RosterEntry)
            .join(Roster, Roster.id == RosterEntry.roster_id)
            .where(Roster.import_id == uuid.UUID(import_id))
        )
        return {e.employee_id: (e.status, e.department, e.hire_date, e.line) for e in rows}


def latest_import(database: Database) -> uuid.UUID | None:
    with database.sessionmaker() as session:
        return session.scalar(
            select(Roster.import_id)
            .where(Roster.completed_at.is_not(None))
            .order_by(Roster.completed_at.desc(), Roster.id.desc())
            .limit(1)
        )


def parsed(headers: list[str], cells: list[str | None], **kwargs: Any) -> Any:
    columns = resolve(ImportKind.roster, headers, {})
    options = Options.of(kwargs.pop("options", {}))
    # A CSV row: text cells, no workbook values.
    return roster(Row(2, cells), columns, list(headers), options, **kwargs)


# ---------------------------------------------------------------- reading rows


def test_numeric_hire_dates_take_an_order_only_when_the_values_show_one() -> None:
    assert date_order(["3/4/2021", "01/15/2020", None, "2020-01-01"]) == "mdy"
    assert date_order(["3/4/2021", "25.12.2020"]) == "dmy"
    assert date_order(["3/4/2021", "5/6/2020"]) is None
    # Disagreeing values tell nothing: neither order is taken.
    assert date_order(["1/15/2020", "15/1/2020"]) is None

    def hired(text: str, order: Any = None) -> tuple[date | None, list[str]]:
        row = parsed(["Employee ID", "Status", "Hire Date"], ["W1", "A", text], date_order=order)
        return row.hire_date, [w["reason"] for w in row.warnings]

    assert hired("01/15/2020") == (date(2020, 1, 15), [])
    assert hired("25/3/2021") == (date(2021, 3, 25), [])
    assert hired("3/3/2021") == (date(2021, 3, 3), [])
    assert hired("3/4/2021", "mdy") == (date(2021, 3, 4), [])
    assert hired("3/4/2021", "dmy") == (date(2021, 4, 3), [])
    assert hired("15-Jan-2020") == (date(2020, 1, 15), [])
    assert hired("Jan 15, 2020") == (date(2020, 1, 15), [])
    assert hired("2020-01-15T00:00:00") == (date(2020, 1, 15), [])
    assert hired("3/4/2021") == (
        None,
        [
            "'3/4/2021' may be month first or day first, and no hire date of the file has a day "
            "over 12 to tell which; the worker is kept on the roster without a hire date. Set "
            "options.date_format in the mapping to %m/%d/%Y (month first) or %d/%m/%Y (day "
            "first)"
        ],
    )
    assert hired("2/30/2021") == (
        None,
        ["'2/30/2021' is not a calendar date; the worker is kept on the roster without a hire "
         "date"],
    )  # fmt: skip
    assert hired("soon")[0] is None
    assert "set options.date_format in the mapping, e.g. %m/%d/%Y" in hired("soon")[1][0]


def test_an_unreadable_hire_date_is_a_warning_never_a_rejection() -> None:
    headers = ["Employee ID", "Status", "Hire Date"]
    row = parsed(headers, ["W1", "A", "13/2020"], options={"date_format": "%m/%d/%Y"})
    assert (row.employee_id, row.status, row.hire_date) == ("W1", "active", None)
    assert row.warnings == (
        {
            "column": "Hire Date",
            "field": "hire_date",
            "reason": "'13/2020' is not a date in the format %m/%d/%Y; the worker is kept on "
            "the roster without a hire date",
            "severity": "warning",
        },
    )
    # A row rejected for another column lists its warnings too.
    with pytest.raises(RowErrors) as rejected:
        parsed(headers, ["W2", "sabbatical?", "soon"])
    assert [(e["column"], e.get("severity", "error")) for e in rejected.value.errors] == [
        ("Status", "error"),
        ("Hire Date", "warning"),
    ]


def test_workday_lifecycle_statuses() -> None:
    def status(text: str) -> str:
        return str(parsed(["Employee ID", "Worker Status"], ["W1", text]).status)

    for text in ("Terminated - Voluntary", "Terminated - Involuntary", "Retiree", "Retired"):
        assert status(text) == "terminated", text
    for text in ("Pre-Hire", "Pre Hire", "Active - On Leave", "On Leave"):
        assert status(text) == "leave", text
    assert status("Active") == "active"
    with pytest.raises(RowErrors) as rejected:
        status("Sabbatical")
    assert rejected.value.errors[0]["reason"] == (
        "'Sabbatical' is not a known status (active; terminated, retired, Terminated - "
        "Voluntary; leave, on leave, pre-hire)"
    )


# ---------------------------------------------------------------- US hire dates


def test_us_hire_dates_of_an_adp_export_are_read(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant, eligibility={"roster_verified": True})
    first = upload(client, tenant, report([adp("W1", "A", "2020-01-15")], ADP), kind="roster")
    assert first["status"] == "completed"
    paid = earn(client, tenant, "e-1", "W1")
    assert paid["state"] == "ready"
    rows = [adp("W1", "A", "01/15/2020"), adp("W2", "Active", "3/4/2021")]
    second = upload(client, tenant, report(rows, ADP), kind="roster")
    counts = ("status", "accepted", "rejected", "warnings")
    assert [second[k] for k in counts] == ["completed", 2, 0, 0]
    # 01/15/2020 can only be month first, so 3/4/2021 of the same file is March 4.
    assert entries(database, second["id"]) == {
        "W1": ("active", "Sales", date(2020, 1, 15), 2),
        "W2": ("active", "Sales", date(2021, 3, 4), 3),
    }
    assert latest_import(database) == uuid.UUID(second["id"])
    assert earn(client, tenant, "e-2", "W1")["state"] == "ready"


def test_ambiguous_hire_dates_keep_the_workers_with_a_warning(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant, eligibility={"roster_verified": True})
    rows = [adp("W1", "A", "3/4/2021"), adp("W2", "A", "5/6/2020"), adp("W3", "A", "2019-02-01")]
    body = upload(client, tenant, report(rows, ADP), kind="roster")
    counts = ("status", "accepted", "rejected", "warnings")
    assert [body[k] for k in counts] == ["completed", 3, 0, 2]
    assert entries(database, body["id"]) == {
        "W1": ("active", "Sales", None, 2),
        "W2": ("active", "Sales", None, 3),
        "W3": ("active", "Sales", date(2019, 2, 1), 4),
    }
    # Listed with the rejected rows, every problem a warning: the rows were imported.
    listed = [(r["line"], [e["severity"] for e in r["errors"]]) for r in body["rejected_rows"]]
    assert listed == [(2, ["warning"]), (3, ["warning"])]
    problem = body["rejected_rows"][0]["errors"][0]
    assert problem["column"] == "Hire Date"
    assert "%m/%d/%Y (month first)" in problem["reason"]
    download = client.get(body["rejections_csv"], headers=tenant.headers).text.splitlines()
    assert download[0] == "line,errors," + ",".join(ADP)
    assert download[1].startswith("2,\"warning: Hire Date: '3/4/2021' may be month first")
    assert download[1].endswith(",W1,w1@example.com,A,Sales,Kim,Employee,3/4/2021")
    assert earn(client, tenant, "e-1", "W1")["state"] == "ready"
    # Named in the mapping, the format reads them all.
    options = json.dumps({"date_format": "%d/%m/%Y"})
    again = upload(client, tenant, report(rows[:2], ADP), kind="roster", options=options)
    assert [again[k] for k in counts] == ["completed", 2, 0, 0]
    assert {k: v[2] for k, v in entries(database, again["id"]).items()} == {
        "W1": date(2021, 4, 3),
        "W2": date(2020, 6, 5),
    }


# ---------------------------------------------------------------- refused rosters


def test_a_roster_whose_rows_are_all_rejected_does_not_replace_the_roster_in_force(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant, eligibility={"roster_verified": True})
    first = upload(client, tenant, report([adp("W1", "A", "2020-01-15")], ADP), kind="roster")
    held = earn(client, tenant, "e-1", "W2")
    assert holds(client, tenant, held["id"])[0] == "held"
    before = holds(client, tenant, held["id"])
    bad = upload(
        client,
        tenant,
        report([adp("W1", "gone?"), adp("W2", "sabbatical?")], ADP),
        kind="roster",
    )
    counts = ("status", "accepted", "rejected", "warnings")
    assert [bad[k] for k in counts] == ["failed", 0, 2, 0]
    with database.sessionmaker() as session:
        day = session.scalars(select(Roster.completed_at)).one()
    assert day is not None
    assert bad["error"] == (
        "roster not applied: none of its 2 data rows could be read (2 rejected); the roster of "
        f"{day.date().isoformat()} (import {first['id']}) stays in force and rewards held "
        "not_on_roster were not checked again. Fix the rows listed in the rejections CSV (or "
        "the mapping) and import the whole file again"
    )
    assert bad["finished_at"] is not None
    assert [r["line"] for r in bad["rejected_rows"]] == [2, 3]
    assert latest_import(database) == uuid.UUID(first["id"])
    # The refused file's entries are gone; only the roster in force is stored.
    assert entries(database, bad["id"]) == {}
    with database.sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(Roster)) == 1
        refusal = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "imports:import:refuse")
        ).one()
        assert (refusal.target_id, refusal.details["rejected"]) == (bad["id"], 2)
    assert earn(client, tenant, "e-2", "W1")["state"] == "ready"
    assert holds(client, tenant, held["id"]) == before


def test_a_roster_with_more_than_half_its_rows_rejected_is_refused(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant, eligibility={"roster_verified": True})
    held = earn(client, tenant, "e-1", "W2")
    # W2 would be active, but two of the three rows are wrong: the file is not trusted.
    rows = [adp("W2", "A"), adp("W3", "??"), ["", "x@example.com", "A", "", "", "", ""]]
    bad = upload(client, tenant, report(rows, ADP), kind="roster")
    assert [bad[k] for k in ("status", "accepted", "rejected")] == ["failed", 1, 2]
    assert bad["error"] == (
        "roster not applied: 2 of its 3 data rows were rejected, more than half; no roster was "
        "in force before it, so roster-verified programs keep holding their rewards. Fix the "
        "rows listed in the rejections CSV (or the mapping) and import the whole file again"
    )
    assert latest_import(database) is None
    assert holds(client, tenant, held["id"]) == (
        "held",
        ["the program is roster-verified and no roster has been imported yet"],
    )
    # Half rejected is still a roster: W2 is active on it and the held reward moves on.
    half = upload(client, tenant, report(rows[:2], ADP), kind="roster")
    assert [half[k] for k in ("status", "accepted", "rejected")] == ["completed", 1, 1]
    assert latest_import(database) == uuid.UUID(half["id"])
    assert holds(client, tenant, held["id"]) == ("ready", [])


def test_the_cli_says_why_a_roster_was_refused(
    database: Database, tenant: Tenant, tmp_path: Path
) -> None:
    path = write(tmp_path, "workers.csv", report([["E1", "Gone?"]], ["Employee ID", "Status"]))
    done = laurel("import", "roster", str(path), "--org", tenant.slug, url=database.url)
    assert done.returncode == 1
    assert "failed: 1 rows, 0 accepted, 0 already imported, 1 rejected" in done.stdout
    assert "error: roster not applied: none of its 1 data rows could be read" in done.stderr


# ---------------------------------------------------------------- several rows per worker


def test_positions_of_one_worker_merge_active_first_in_any_order(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant, eligibility={"roster_verified": True})
    old = adp("A1", "T", "2015-01-01", "Old Dept")
    new = adp("A1", "A", "2022-01-01", "New Dept")
    leave = adp("A1", "L", "2023-01-01", "Leave Dept")
    for rows in ([old, new, leave], [leave, new, old]):
        body = upload(client, tenant, report(rows, ADP), kind="roster")
        assert [body[k] for k in ("status", "accepted", "rejected")] == ["completed", 3, 0]
        line = 2 + rows.index(new)
        assert entries(database, body["id"]) == {
            "A1": ("active", "New Dept", date(2022, 1, 1), line)
        }
    assert earn(client, tenant, "e-1", "A1")["state"] == "ready"


def test_rows_of_one_worker_merge_across_chunks_and_a_resume(
    client: TestClient, tenant: Tenant, database: Database, tmp_path: Path
) -> None:
    fixed_program(client, tenant, eligibility={"roster_verified": True})
    rows = [
        ["C1", "", "A", "Sales", "Kim", "Employee", ""],
        adp("A1", "A", "2022-01-01", "New Dept"),
        adp("B1", "A"),
        adp("A1", "T", "2015-01-01", "Old Dept"),
        adp("B1", "L", "2024-01-01", "Leave Dept"),
        adp("A1", "A", "2010-01-01", "Older Dept"),
        adp("C1", "T", "2001-01-01", "Old Dept"),
    ]
    content = report(rows, ADP)
    path = write(tmp_path, "workers.csv", content)
    digest = hashlib.sha256(content).hexdigest()
    facts = service.FileFacts("workers.csv", path, len(content), digest, FileFormat.csv)
    with database.session() as session:
        import_id = service.create(session, tenant.actor, ImportKind.roster, facts).id
    stop = threading.Event()
    stop.set()
    service.run(database, import_id, path, chunk_rows=2, stop=stop)
    service.run(database, import_id, path, chunk_rows=1)
    with database.sessionmaker() as session:
        imp = session.get(Import, import_id)
        assert imp is not None
        assert (imp.status, imp.accepted, imp.rejected) == ("completed", 7, 0)
        assert session.scalars(select(Roster.entries)).one() == 3
        # C1's active row had no email: the terminated row's fills it, nothing else.
        c1 = session.scalars(select(RosterEntry).where(RosterEntry.employee_id == "C1")).one()
        assert c1.email_index is not None
    # Of two active positions the later hire wins; leave never beats active.
    assert entries(database, str(import_id)) == {
        "A1": ("active", "New Dept", date(2022, 1, 1), 3),
        "B1": ("active", "Sales", None, 4),
        "C1": ("active", "Sales", None, 2),
    }
    assert earn(client, tenant, "e-1", "A1")["state"] == "ready"
    # Matched by the email only the terminated row carried (the LMS id differs).
    body = completion("e-2", learner="LMS-9", course="C-e-2")
    body["learner"] = {"external_id": "LMS-9", "email": "c1@example.com"}
    response = client.post("/api/v1/completions", headers=tenant.headers, json=body)
    assert response.json()["rewards"][0]["state"] == "ready"


def test_the_primary_position_speaks_for_a_worker_among_equal_statuses(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    rows = [
        [*adp("A1", "A", "2023-01-01", "Second Job"), "No"],
        [*adp("A1", "A", "2010-01-01", "Main Job"), "Yes"],
        [*adp("B1", "T", "2010-01-01", "Main Job"), "Yes"],
        [*adp("B1", "A", "2023-01-01", "Second Job"), "No"],
        [*adp("C1", "A", "2020-01-01", "Only Job"), "maybe"],
    ]
    body = upload(client, tenant, report(rows, ADP_PRIMARY), kind="roster")
    counts = ("status", "accepted", "rejected", "warnings")
    assert [body[k] for k in counts] == ["completed", 5, 0, 1]
    assert body["columns"]["primary_position"] == "Primary Position"
    assert entries(database, body["id"]) == {
        "A1": ("active", "Main Job", date(2010, 1, 1), 3),
        # Active in any position is employed: status comes before the primary flag.
        "B1": ("active", "Second Job", date(2023, 1, 1), 5),
        "C1": ("active", "Only Job", date(2020, 1, 1), 6),
    }
    assert body["rejected_rows"][0]["errors"][0]["reason"] == (
        "'maybe' is not yes or no: the row is not taken as primary"
    )


# ---------------------------------------------------------------- lifecycle statuses


def test_workday_lifecycle_statuses_hold_and_release_through_later_rosters(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant, eligibility={"roster_verified": True})

    def workday(*statuses: tuple[str, str]) -> dict[str, Any]:
        rows = [[w, w, f"{w.lower()}@example.com", s, "2020-01-15"] for w, s in statuses]
        return upload(client, tenant, report(rows, WORKDAY), kind="roster")

    first = workday(
        ("W1", "Terminated - Voluntary"),
        ("W2", "Terminated - Involuntary"),
        ("W3", "Retiree"),
        ("W4", "Pre-Hire"),
        ("W5", "Pre Hire"),
        ("W6", "Active"),
    )
    assert [first[k] for k in ("status", "accepted", "rejected")] == ["completed", 6, 0]
    assert {k: v[0] for k, v in entries(database, first["id"]).items()} == {
        "W1": "terminated",
        "W2": "terminated",
        "W3": "terminated",
        "W4": "leave",
        "W5": "leave",
        "W6": "active",
    }
    rewards = {w: earn(client, tenant, f"e-{w}", w) for w in ("W1", "W3", "W4", "W6")}
    day = first["finished_at"][:10]
    assert {w: holds(client, tenant, r["id"]) for w, r in rewards.items()} == {
        "W1": ("held", [f"learner W1 is terminated on the roster of {day}"]),
        "W3": ("held", [f"learner W3 is terminated on the roster of {day}"]),
        "W4": ("held", [f"learner W4 is leave on the roster of {day}"]),
        "W6": ("ready", []),
    }
    # W4 has started; W1 came back; W3 stays retired.
    workday(("W1", "Active"), ("W3", "Retired"), ("W4", "Active"), ("W6", "Active"))
    assert {w: holds(client, tenant, r["id"])[0] for w, r in rewards.items()} == {
        "W1": "ready",
        "W3": "held",
        "W4": "ready",
        "W6": "ready",
    }
