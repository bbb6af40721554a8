"""Completion imports over HTTP: CSV and XLSX, header variants, bad rows, idempotency."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy import func, select

from laurel.db import Database
from laurel.events.models import CompletionEvent
from laurel.kit.clock import utcnow
from laurel.learners import sealing
from laurel.rewards.models import Reward
from tests.conftest import Tenant
from tests.factories import backdate_program, fixed_program, opened
from tests.imports.support import day, good_row, report, upload


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
