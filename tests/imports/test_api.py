"""Completion imports over HTTP: CSV and XLSX, header variants, bad rows, idempotency."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy import func, select

from laurel.courses.models import Course
from laurel.db import Database
from laurel.events.models import CompletionEvent
from laurel.kit.clock import utcnow
from laurel.learners import sealing
from laurel.rewards.models import Reward
from laurel.roster.models import RosterEntry
from tests.conftest import Tenant
from tests.factories import backdate_program, fixed_program, opened
from tests.imports.support import day, good_row, report, upload, with_dimension, workbook


def program(client: TestClient, tenant: Tenant, database: Database, **fields: Any) -> None:
    created = fixed_program(client, tenant, **fields)
    backdate_program(database, created["id"], utcnow() - timedelta(days=60))


def counts(database: Database) -> tuple[int, int]:
    with database.sessionmaker() as session:
        events = session.scalar(select(func.count()).select_from(CompletionEvent)) or 0
        rewards = session.scalar(select(func.count()).select_from(Reward)) or 0
    return events, rewards


def summary(body: dict[str, Any]) -> dict[str, Any]:
    keys = ("status", "rows_total", "rows_read", "accepted", "replayed", "rejected", "rewards")
    return {k: body[k] for k in keys}


def test_csv_rows_become_events_and_rewards_and_reupload_replays(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    program(client, tenant, database)
    first = upload(client, tenant, report([good_row(n) for n in range(6)]))
    assert summary(first) == {
        "status": "completed",
        "rows_total": 6,
        "rows_read": 6,
        "accepted": 6,
        "replayed": 0,
        "rejected": 0,
        "rewards": 6,
    }
    assert first["columns"]["learner_id"] == "User ID"
    assert first["columns"]["completion_date"] == "Completion Date"
    assert counts(database) == (6, 6)
    again = upload(client, tenant, report([good_row(n) for n in range(6)]))
    assert (again["accepted"], again["replayed"], again["rewards"]) == (0, 6, 0)
    # Overlapping export: rows 3-5 were imported, 6-8 are new.
    overlap = upload(client, tenant, report([good_row(n) for n in range(3, 9)]))
    assert (overlap["accepted"], overlap["replayed"], overlap["rewards"]) == (3, 3, 3)
    assert counts(database) == (9, 9)
    with database.sessionmaker() as session:
        sources = set(session.scalars(select(CompletionEvent.source)))
        ids = list(session.scalars(select(CompletionEvent.source_event_id)))
    assert sources == {"import"}
    assert all(i.startswith("imp_") for i in ids)
    fetched = client.get(f"/api/v1/imports/{first['id']}", headers=tenant.headers)
    assert summary(fetched.json()) == summary(first)
    listed = client.get("/api/v1/imports", headers=tenant.headers).json()
    assert [i["id"] for i in listed["data"]] == [overlap["id"], again["id"], first["id"]]


def test_xlsx_with_other_header_names(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    program(client, tenant, database)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(
        [
            "Learner ID",
            "E-mail",
            "First Name",
            "Last Name",
            "Course ID",
            "Title",
            "Date Completed",
            "Score (%)",
            "Completion Status",
            "Dept",
            "Country",
        ]
    )
    when = utcnow().replace(microsecond=0, tzinfo=None) - timedelta(days=2)
    sheet.append(
        [
            "L1",
            "l1@example.com",
            "Ana",
            "Díaz",
            "SEC-101",
            "Security",
            when,
            91,
            "Passed",
            "Sales",
            "us",
        ]
    )
    sheet.append(["L2", None, "Bo", "Li", "SEC-101", "Security", when, 0.5, "Failed", None, None])
    sheet.append([None] * 11)  # blank rows are skipped, not rejected
    buffer = io.BytesIO()
    book.save(buffer)
    body = upload(client, tenant, buffer.getvalue(), filename="report.xlsx")
    assert body["format"] == "xlsx"
    assert body["rows_total"] == 2
    assert (body["accepted"], body["rejected"], body["rewards"]) == (2, 0, 1)
    assert body["columns"]["score"] == "Score (%)"
    with database.sessionmaker() as session:
        events = {_payload(e)["line"]: e for e in session.scalars(select(CompletionEvent))}
    assert events[2].outcome == "passed"
    assert events[2].score == 0.91
    assert events[2].occurred_at == when.replace(tzinfo=events[2].occurred_at.tzinfo)
    assert events[3].outcome == "failed"
    learner = client.get("/api/v1/learners", headers=tenant.headers).json()["data"]
    by_id = {item["external_id"]: item for item in learner}
    assert by_id["L1"]["name"] == "Ana Díaz"
    assert by_id["L1"]["department"] == "Sales"
    assert by_id["L1"]["country"] == "US"


def test_every_bad_row_is_named_and_good_rows_are_kept(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    program(client, tenant, database)
    headers = [
        "User ID",
        "Email",
        "Course Code",
        "Completion Date",
        "Score",
        "Status",
        "Classification",
        "Country",
        "Amount",
    ]
    ok = ["E1", "e1@example.com", "SEC-101", day(), "80", "completed", "employee", "US", ""]
    future = (utcnow() + timedelta(days=3)).isoformat()
    rows = [
        ok,
        ["", "", "SEC-101", day(), "", "", "", "", ""],
        ["E3", "", "", day(), "", "", "", "", ""],
        ["E4", "", "SEC-101", "31/12/2025", "", "", "", "", ""],
        ["E5", "", "SEC-101", future, "", "", "", "", ""],
        ["E6", "", "SEC-101", day(), "abc", "", "", "", ""],
        ["E7", "", "SEC-101", day(), "", "graduated", "", "", ""],
        ["E8", "", "SEC-101", day(), "", "", "robot", "", ""],
        ["E9", "", "SEC-101", day(), "", "", "", "USA", ""],
        ["E10", "", "SEC-101", day(), "", "", "", "", "-25.00"],
        ["E11", "not-an-email", "SEC-101", day(), "", "", "", "", ""],
        ["E12", "", "SEC-101", day(), "", "", "", "", ""],
    ]
    body = upload(client, tenant, report(rows, headers))
    assert (body["accepted"], body["rejected"], body["rewards"]) == (2, 10, 2)
    reasons = {r["line"]: r["errors"] for r in body["rejected_rows"]}
    assert sorted(reasons) == list(range(3, 13))

    def only(line: int) -> tuple[str, str]:
        (error,) = reasons[line]
        return error["column"], error["reason"]

    assert only(3) == ("User ID", "empty: a row needs a learner id or an email")
    assert only(4) == ("Course Code", "empty: a row needs a course id")
    assert only(5)[0] == "Completion Date"
    assert "'31/12/2025' is not an ISO 8601 date" in only(5)[1]
    assert only(6) == ("Completion Date", "is in the future")
    assert only(7) == ("Score", "'abc' is not a number")
    assert only(8)[0] == "Status"
    assert only(9)[0] == "Classification"
    assert only(10) == ("Country", "'USA' is not an ISO 3166-1 alpha-2 code such as US")
    assert only(11)[0] == "Amount"
    assert only(11) == (
        "Amount",
        "'-25.00' is negative: an amount override must be zero or more",
    )
    assert only(12) == ("Email", "'not-an-email' is not an email address")
    assert counts(database) == (2, 2)
    download = client.get(body["rejections_csv"], headers=tenant.headers)
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(download.text)))
    assert lines[0] == ["line", "errors", *headers]
    assert [int(line[0]) for line in lines[1:]] == list(range(3, 13))
    assert lines[2][1] == "Course Code: empty: a row needs a course id"
    assert lines[2][2:] == rows[2]


def test_headers_that_cannot_serve_the_import_refuse_the_whole_file(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    body = upload(client, tenant, report([["E1", "x"]], ["User ID", "Whatever"]), expect=422)
    assert body["error"] == "import_file_invalid"
    fields = {d["field"] for d in body["detail"]}
    assert fields == {"course_id", "completion_date"}
    assert counts(database) == (0, 0)
    listed = client.get("/api/v1/imports", headers=tenant.headers).json()
    assert listed["data"] == []
    damaged = upload(client, tenant, b"PK\x03\x04 not a zip", filename="r.xlsx", expect=422)
    assert "not a readable XLSX workbook" in damaged["detail"][0]["message"]
    latin1 = report([good_row(1)]) + "E2,é,x\n".encode("latin-1")
    not_utf8 = upload(client, tenant, latin1, expect=422)
    assert "not UTF-8" in not_utf8["detail"][0]["message"]
    assert counts(database) == (0, 0)
    bad_json = upload(client, tenant, report([good_row(1)]), expect=422, columns="{nope")
    assert bad_json["detail"][0]["field"] == "columns"


def test_saved_mapping_names_odd_headers_and_date_format(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    program(client, tenant, database)
    saved = client.put(
        "/api/v1/import-mappings/completions/acme-lms",
        headers=tenant.headers,
        json={
            "columns": {"learner_id": "Person", "course_id": "Thing", "completion_date": "When"},
            "options": {"date_format": "%d/%m/%Y", "currency": "USD"},
        },
    )
    assert saved.status_code == 200, saved.text
    when = (utcnow() - timedelta(days=3)).strftime("%d/%m/%Y")
    content = report([["P1", "SEC-101", when, "12.50"]], ["Person", "Thing", "When", "Amount"])
    body = upload(client, tenant, content, mapping="acme-lms")
    assert (body["accepted"], body["rejected"]) == (1, 0)
    assert body["mapping_name"] == "acme-lms"
    with database.sessionmaker() as session:
        event = session.scalars(select(CompletionEvent)).one()
    assert opened(database, event, sealing.COMPLETION_PAYLOAD)["amount_override"] == {
        "amount": "12.50",
        "currency": "USD",
    }
    with database.sessionmaker() as session:
        reward = session.scalars(select(Reward)).one()
    assert (reward.amount_minor, reward.currency) == (1250, "USD")
    listed = client.get("/api/v1/import-mappings", headers=tenant.headers).json()
    assert [(m["kind"], m["name"]) for m in listed] == [("completions", "acme-lms")]
    unknown = upload(client, tenant, content, mapping="nope", expect=404)
    assert unknown["error"] == "mapping_not_found"
    wrong = client.put(
        "/api/v1/import-mappings/completions/bad",
        headers=tenant.headers,
        json={"columns": {"shoe_size": "Shoe"}, "options": {"timezone": "Mars/Base"}},
    )
    assert wrong.status_code == 422
    assert "Mars/Base" in wrong.text
    test_key = client.put(
        "/api/v1/import-mappings/completions/x", headers=tenant.test_headers, json={}
    )
    assert test_key.status_code == 403
    gone = client.delete("/api/v1/import-mappings/completions/acme-lms", headers=tenant.headers)
    assert gone.status_code == 204


def test_unknown_import_is_404(client: TestClient, tenant: Tenant) -> None:
    response = client.get(f"/api/v1/imports/{uuid.uuid4()}", headers=tenant.headers)
    assert response.status_code == 404
    assert response.json()["error"] == "import_not_found"


def test_amount_override_replaces_the_rule_value_only_where_the_rule_pays(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    program(client, tenant, database, amount="25.00", conditions={"course_ids": ["SEC-101"]})
    headers = ["User ID", "Course Code", "Completion Date", "Amount"]
    rows = [
        ["O1", "SEC-101", day(), "40.00"],  # pays 40.00 instead of 25.00
        ["O2", "SEC-101", day(), ""],  # no override: the rule's 25.00
        ["O3", "OTHER-9", day(), "99.00"],  # the rule does not match: nothing pays
        ["O4", "SEC-101", day(), "0"],  # an override of zero is an amount too
        ["O5", "SEC-101", day(), "12.345"],  # more decimals than USD has
        ["O6", "SEC-101", day(), "-3"],
        ["O7", "SEC-101", day(), "1e3"],
        ["O8", "SEC-101", day(), "3.5E+01"],
    ]
    body = upload(client, tenant, report(rows, headers))
    assert (body["accepted"], body["rejected"], body["rewards"]) == (4, 4, 3)
    reasons = {r["line"]: r["errors"] for r in body["rejected_rows"]}
    assert reasons[6] == [
        {
            "column": "Amount",
            "field": "amount",
            "reason": "not exact money in the program currency: USD has 2 decimal places; "
            "'12.345' has 3",
        }
    ]
    assert reasons[7][0]["reason"] == "'-3' is negative: an amount override must be zero or more"
    assert reasons[8][0]["reason"] == "'1e3' is not a decimal amount such as \"25.00\""
    assert reasons[9][0]["column"] == "Amount"
    with database.sessionmaker() as session:
        paid = {
            _payload(e)["row"]["User ID"]: r
            for r, e in session.execute(
                select(Reward, CompletionEvent).join(
                    CompletionEvent, Reward.event_id == CompletionEvent.id
                )
            )
        }
        decided = {
            _payload(e)["row"]["User ID"]: e.decisions
            for e in session.scalars(select(CompletionEvent))
        }
    assert {k: r.amount_minor for k, r in paid.items()} == {"O1": 4000, "O2": 2500, "O4": 0}
    assert paid["O1"].calculation["kind"] == "override"
    assert paid["O1"].calculation["rule_amount"] == "25.00"
    assert paid["O2"].calculation["kind"] == "fixed"
    assert [d["result"] for d in decided["O3"]] == ["no_matching_rule"]
    audit = client.get(
        "/api/v1/audit",
        params={"action": "rewards:reward:create"},
        headers=tenant.headers,
    ).json()
    by_reward = {a["target_id"]: a["details"] for a in audit}
    details = by_reward[str(paid["O1"].id)]
    assert details["amount_override"] == {"amount": "40.00", "currency": "USD"}
    assert details["rule_amount"] == {"amount": "25.00", "currency": "USD"}
    assert "amount_override" not in by_reward[str(paid["O2"].id)]


def test_amount_override_in_another_currency_is_a_row_error(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    program(client, tenant, database, amount="25.00")
    headers = ["User ID", "Course Code", "Completion Date", "Amount", "Currency"]
    rows = [
        ["C1", "SEC-101", day(), "30.00", "EUR"],
        ["C2", "SEC-101", day(), "30.00", "USD"],
        ["C3", "SEC-101", day(), "30", "JPY"],
    ]
    body = upload(client, tenant, report(rows, headers))
    assert (body["accepted"], body["rejected"], body["rewards"]) == (1, 2, 1)
    reasons = {r["line"]: r["errors"][0]["reason"] for r in body["rejected_rows"]}
    assert reasons[2] == "the amount override is in EUR; the programs in force then pay in USD"
    assert reasons[4] == "the amount override is in JPY; the programs in force then pay in USD"
    with database.sessionmaker() as session:
        assert [r.amount_minor for r in session.scalars(select(Reward))] == [3000]


def _payload(event: CompletionEvent) -> dict[str, Any]:
    found: dict[str, Any] = sealing.value_of(event, sealing.COMPLETION_PAYLOAD)
    return found


def _events(database: Database) -> dict[int, CompletionEvent]:
    """Stored events by the file line they came from."""
    with database.sessionmaker() as session:
        return {_payload(e)["line"]: e for e in session.scalars(select(CompletionEvent))}


def _midnight(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_csv_fields_with_escaped_quotes_keep_their_columns(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    program(client, tenant, database)
    when = day()
    content = (
        "User ID,Course Code,Course Title,Completion Date,Score\r\n"
        f'E1,SEC-1,"Ethics: ""Speak Up"", Part 2",{when},90\r\n'
        f'"E2","SEC-1","Ethics: ""Speak Up"", Part 2","{when}","80"\r\n'
    ).encode()
    body = upload(client, tenant, content)
    assert (body["accepted"], body["rejected"], body["rewards"]) == (2, 0, 2)
    events = _events(database)
    assert [(events[n].outcome, events[n].score) for n in (2, 3)] == [
        ("completed", 0.9),
        ("completed", 0.8),
    ]
    assert events[2].occurred_at == _midnight(when)
    assert (
        opened(database, events[3], sealing.COMPLETION_PAYLOAD)["row"]["Course Title"]
        == 'Ethics: "Speak Up", Part 2'
    )
    with database.sessionmaker() as session:
        course = session.scalars(select(Course).where(Course.external_id == "SEC-1")).one()
    assert course.title == 'Ethics: "Speak Up", Part 2'


def test_a_failed_then_passed_attempt_on_the_same_date_pays_once(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    program(client, tenant, database)
    when = day()
    content = report(
        [["E3", "SEC-2", when, "Failed"], ["E3", "SEC-2", when, "Passed"]],
        ["User ID", "Course Code", "Completion Date", "Status"],
    )
    body = upload(client, tenant, content)
    assert (body["accepted"], body["rejected"], body["rewards"]) == (2, 0, 1)
    events = _events(database)
    assert [events[n].outcome for n in (2, 3)] == ["failed", "passed"]
    # The paying row keeps the id earlier versions gave it: old files still replay.
    key = "\x1f".join(("E3", "SEC-2", _midnight(when).isoformat()))
    assert events[3].source_event_id == "imp_" + hashlib.sha256(key.encode()).hexdigest()[:40]
    with database.sessionmaker() as session:
        paid = session.scalars(select(Reward)).one()
    assert (paid.event_id, paid.amount_minor) == (events[3].id, 2500)
    again = upload(client, tenant, content)
    assert (again["accepted"], again["replayed"], again["rejected"]) == (0, 2, 0)
    assert counts(database) == (2, 1)


def test_decimal_commas_in_a_semicolon_csv_and_the_decimal_separator_option(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    program(client, tenant, database)
    when = day()
    content = (
        "\ufeffUser ID;Course Code;Completion Date;Score;Amount\r\n"
        f"E1;SEC-101;{when};85,5;\r\n"
        f"E2;SEC-101;{when};90;12,50\r\n"
        f"E3;SEC-101;{when};70;1.250\r\n"
    ).encode()
    body = upload(client, tenant, content)
    assert (body["accepted"], body["rejected"], body["rewards"]) == (2, 1, 2)
    assert body["rejected_rows"] == [
        {
            "line": 4,
            "errors": [
                {
                    "column": "Amount",
                    "field": "amount",
                    "reason": "'1.250' is ambiguous: '.' may be the decimal mark or separate "
                    "thousands; set options.decimal_separator to '.' or ',' in the mapping",
                }
            ],
        }
    ]
    events = _events(database)
    assert events[2].score == 0.855
    with database.sessionmaker() as session:
        paid = {r.event_id: r.amount_minor for r in session.scalars(select(Reward))}
    assert paid == {events[2].id: 2500, events[3].id: 1250}
    # The option, saved with a mapping, reads "1.250,00" in a comma-delimited file too.
    saved = client.put(
        "/api/v1/import-mappings/completions/eu-lms",
        headers=tenant.headers,
        json={"options": {"decimal_separator": ","}},
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["options"] == {"decimal_separator": ","}
    comma = report(
        [["E4", "SEC-101", when, "75,5", "1.250,00"]],
        ["User ID", "Course Code", "Completion Date", "Score", "Amount"],
    )
    named = upload(client, tenant, comma, mapping="eu-lms")
    assert (named["accepted"], named["rejected"]) == (1, 0)
    assert named["options"]["decimal_separator"] == ","
    event = _events(database)[2]
    assert (event.score, opened(database, event, sealing.COMPLETION_PAYLOAD)["row"]["Amount"]) == (
        0.755,
        "1.250,00",
    )
    with database.sessionmaker() as session:
        reward = session.scalars(select(Reward).where(Reward.event_id == event.id)).one()
    assert reward.amount_minor == 125000
    wrong = client.put(
        "/api/v1/import-mappings/completions/bad",
        headers=tenant.headers,
        json={"options": {"decimal_separator": ";"}},
    )
    assert wrong.status_code == 422


def test_xlsx_date_cells_and_serials_whatever_the_text_date_format(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    program(client, tenant, database)
    now = utcnow().replace(microsecond=0, second=0)
    cell = (now - timedelta(days=2)).replace(tzinfo=None)
    serial_day = (now - timedelta(days=3)).date()
    text_day = (now - timedelta(days=4)).date()
    content = workbook(
        [
            ["User ID", "Course Code", "Completion Date"],
            ["X1", "SEC-101", cell],
            ["X2", "SEC-101", (serial_day - date(1899, 12, 30)).days],
            ["X3", "SEC-101", text_day.strftime("%d.%m.%Y")],
            ["X4", "SEC-101", text_day.isoformat()],
        ]
    )
    options = json.dumps({"date_format": "%d.%m.%Y"})
    body = upload(client, tenant, content, filename="r.xlsx", options=options)
    assert (body["accepted"], body["rejected"], body["rewards"]) == (3, 1, 3)
    assert body["rejected_rows"] == [
        {
            "line": 5,
            "errors": [
                {
                    "column": "Completion Date",
                    "field": "completion_date",
                    "reason": f"'{text_day.isoformat()}' is not a date in the format %d.%m.%Y",
                }
            ],
        }
    ]
    events = _events(database)
    assert [events[n].occurred_at for n in (2, 3, 4)] == [
        cell.replace(tzinfo=UTC),
        datetime.combine(serial_day, time(), UTC),
        datetime.combine(text_day, time(), UTC),
    ]


def test_xlsx_roster_hire_dates_from_cells_and_serials(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    content = workbook(
        [
            ["Employee ID", "Status", "Hire Date"],
            ["W1", "Active", date(2020, 1, 15)],
            ["W2", "Active", 43845],
            ["W3", "Active", "01/15/2020"],
        ]
    )
    options = json.dumps({"date_format": "%m/%d/%Y"})
    body = upload(client, tenant, content, filename="r.xlsx", kind="roster", options=options)
    assert (body["accepted"], body["rejected"]) == (3, 0)
    with database.sessionmaker() as session:
        hired = {e.employee_id: e.hire_date for e in session.scalars(select(RosterEntry))}
    assert hired == dict.fromkeys(("W1", "W2", "W3"), date(2020, 1, 15))


def test_enrolment_and_progress_rows_are_stored_without_a_completion_date(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    program(client, tenant, database)
    future = (utcnow() + timedelta(days=3)).date().isoformat()
    headers = ["User ID", "Course Code", "Status", "Enrollment Date", "Completion Date"]
    content = report(
        [
            ["E7", "SEC-101", "In Progress", day(3), ""],
            ["E8", "SEC-101", "Not Started", "", ""],
            ["E9", "SEC-101", "Completed", day(3), ""],
            ["E10", "SEC-101", "Enrolled", future, ""],
            ["E11", "SEC-101", "Completed", day(3), day(1)],
        ],
        headers,
    )
    body = upload(client, tenant, content)
    assert (body["accepted"], body["rejected"], body["rewards"]) == (3, 2, 1)
    assert body["columns"]["enrollment_date"] == "Enrollment Date"
    assert body["rejected_rows"] == [
        {
            "line": 4,
            "errors": [
                {
                    "column": "Completion Date",
                    "field": "completion_date",
                    "reason": "empty: a completed row needs its completion date",
                }
            ],
        },
        {
            "line": 5,
            "errors": [
                {
                    "column": "Enrollment Date",
                    "field": "enrollment_date",
                    "reason": "is in the future",
                }
            ],
        },
    ]
    events = _events(database)
    assert [(events[n].outcome, events[n].occurred_at) for n in (2, 3, 6)] == [
        ("in_progress", _midnight(day(3))),
        ("enrolled", datetime.fromisoformat(body["created_at"])),
        ("completed", _midnight(day(1))),
    ]
    # Uploaded again (another import time), the same rows are the same events.
    again = upload(client, tenant, content)
    assert (again["accepted"], again["replayed"], again["rejected"]) == (0, 3, 2)
    assert counts(database) == (3, 1)


def test_repeated_headers_are_refused_until_the_mapping_picks_one(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    program(client, tenant, database)
    content = report(
        [["E3", "SEC-101", day(5), day(1)]], ["User ID", "Course Code", "Date", "Date"]
    )
    named = upload(
        client, tenant, content, columns=json.dumps({"completion_date": "Date"}), expect=422
    )
    assert named["detail"] == [
        {
            "field": "columns.completion_date",
            "message": "the file has 2 columns 'Date' (columns 3 and 4): name one in the mapping "
            "as 'Date#1' or 'Date#2'",
            "type": "columns",
        }
    ]
    guessed = upload(client, tenant, content, expect=422)
    assert [d["field"] for d in guessed["detail"]] == ["completion_date"]
    assert counts(database) == (0, 0)
    picked = upload(client, tenant, content, columns=json.dumps({"completion_date": "Date#2"}))
    assert (picked["accepted"], picked["rejected"]) == (1, 0)
    assert picked["columns"]["completion_date"] == "Date#2"
    event = _events(database)[2]
    assert event.occurred_at == _midnight(day(1))
    assert opened(database, event, sealing.COMPLETION_PAYLOAD)["row"] == {
        "User ID": "E3",
        "Course Code": "SEC-101",
        "Date#1": day(5),
        "Date#2": day(1),
    }
    # Repeated headers no field reads are harmless.
    notes = report(
        [["E4", "SEC-101", day(1), "a", "b"]],
        ["User ID", "Course Code", "Completion Date", "Notes", "Notes"],
    )
    assert upload(client, tenant, notes)["accepted"] == 1


def test_xlsx_whose_dimension_tag_says_a1_is_read_whole(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    program(client, tenant, database)
    when = (utcnow() - timedelta(days=1)).replace(microsecond=0, tzinfo=None)
    content = workbook(
        [
            ["User ID", "Course Code", "Completion Date", "Score"],
            ["D1", "SEC-101", when, 90],
            ["D2", "SEC-101", when, None],
        ]
    )
    body = upload(client, tenant, with_dimension(content, "A1"), filename="r.xlsx")
    assert summary(body) == {
        "status": "completed",
        "rows_total": 2,
        "rows_read": 2,
        "accepted": 2,
        "replayed": 0,
        "rejected": 0,
        "rewards": 2,
    }
    events = _events(database)
    assert [(events[n].score, events[n].occurred_at) for n in (2, 3)] == [
        (0.9, when.replace(tzinfo=UTC)),
        (None, when.replace(tzinfo=UTC)),
    ]
