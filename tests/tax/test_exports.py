"""Exports checked field by field against the layouts: FIRE (Pub 1220) positions, lengths,
padding, record counts and totals; the IRIS CSV columns; totals CSV/XLSX; payroll."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from laurel.audit.models import AuditEntry
from laurel.db import Database
from tests.conftest import Tenant
from tests.factories import fixed_program
from tests.tax.support import PAYER, W9, Outbox, deliver_at, earn, settings

B1_W9 = {
    **W9,
    "name_type": "B",
    "business_name": "Díaz & Sons, Inc.",
    "tin_type": "EIN",
    "tin": "27-1234567",
    "city": "San Antonio",
    "postal_code": "78205-1234",
}


def _form(client: TestClient, tenant: Tenant, outbox: Outbox, data: dict[str, Any]) -> None:
    response = client.post(f"/tax/forms/{outbox.token()}", data=data)
    assert response.status_code == 200, response.text


def _year(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    outbox: Outbox,
    monkeypatch: pytest.MonkeyPatch,
    *,
    year: int,
    prize: str,
) -> None:
    """A year of payments: two contractors with W-9s (NEC), a customer without a TIN paid
    with backup withholding (MISC), a customer under the threshold, an employee."""
    settings(client, tenant, **PAYER, missing_tin_policy="backup_withholding")
    on = datetime(year, 6, 10, 15, 0, tzinfo=UTC)
    monkeypatch.setattr("laurel.tax.gate.utcnow", lambda: on)
    for key, amount, course in (
        ("nec", "2500.00", "NEC-1"),
        ("nec2", "5012.34", "NEC-2"),
        ("prize", prize, "MISC-1"),
        ("small", "100.00", "SMALL-1"),
    ):
        fixed_program(client, tenant, key=key, amount=amount, conditions={"course_ids": [course]})
    paid = []
    c1 = earn(client, tenant, "c1", learner="C1", classification="contractor", course="NEC-1")
    _form(client, tenant, outbox, W9)
    paid.append(c1)
    b1 = earn(
        client,
        tenant,
        "b1",
        learner="B1",
        classification="channel_partner",
        course="NEC-2",
        name="Diaz and Sons",
    )
    _form(client, tenant, outbox, B1_W9)
    paid.append(b1)
    paid.append(earn(client, tenant, "m1", learner="M1", course="MISC-1", name="Mia O'Neil"))
    paid.append(earn(client, tenant, "s1", learner="S1", course="SMALL-1", name="Sam Small"))
    paid.append(
        earn(client, tenant, "e1", learner="E1", classification="employee", course="SMALL-1")
    )
    for reward in paid:
        deliver_at(database, reward["id"], on)


def _get(client: TestClient, tenant: Tenant, path: str) -> bytes:
    response = client.get(path, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.content


def _at(record: str, start: int, end: int) -> str:
    """Positions as the publication numbers them: 1-based, inclusive."""
    return record[start - 1 : end]


def test_fire_file_field_by_field(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    outbox: Outbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _year(client, tenant, database, outbox, monkeypatch, year=2025, prize="700.00")
    content = _get(client, tenant, "/api/v1/tax/exports/fire?year=2025")
    text = content.decode("ascii")
    assert len(content) == 9 * 750
    records = [text[i : i + 750] for i in range(0, len(text), 750)]
    assert [r[0] for r in records] == ["T", "A", "B", "B", "C", "A", "B", "C", "F"]
    for n, r in enumerate(records, start=1):
        assert len(r) == 750
        assert _at(r, 749, 750) == "\r\n"
        assert _at(r, 500, 507) == f"{n:08d}"
    t, a_nec, b_b1, b_c1, c_nec, a_misc, b_m1, c_misc, f = records

    assert _at(t, 2, 5) == "2025"
    assert _at(t, 6, 6) == " "  # filed in the season after the tax year: not prior-year data
    assert _at(t, 7, 15) == "123456780"
    assert _at(t, 16, 20) == "AB12C"
    assert _at(t, 21, 27) == " " * 7
    assert _at(t, 28, 28) == " "  # production
    assert _at(t, 30, 69) == "ACME LEARNING INC".ljust(40)
    assert _at(t, 110, 149) == "ACME LEARNING INC".ljust(40)
    assert _at(t, 190, 229) == "100 MAIN STREET SUITE 5".ljust(40)
    assert _at(t, 230, 269) == "SPRINGFIELD".ljust(40)
    assert _at(t, 270, 271) == "IL"
    assert _at(t, 272, 280) == "62701    "
    assert _at(t, 296, 303) == "00000003"
    assert _at(t, 304, 343) == "PAT PAYER".ljust(40)
    assert _at(t, 344, 358) == "2175550100".ljust(15)
    assert _at(t, 359, 408) == "finance@acme.example".ljust(50)
    assert _at(t, 518, 518) == "I"
    assert _at(t, 519, 748).strip() == ""

    assert _at(a_nec, 2, 5) == "2025"
    assert _at(a_nec, 6, 6) == " "
    assert _at(a_nec, 12, 20) == "123456780"
    assert _at(a_nec, 26, 27) == "NE"
    assert _at(a_nec, 28, 45) == "1".ljust(18)
    assert _at(a_nec, 46, 52) == " " * 7
    assert _at(a_nec, 53, 92) == "ACME LEARNING INC".ljust(40)
    assert _at(a_nec, 133, 133) == "0"
    assert _at(a_nec, 214, 215) == "IL"
    assert _at(a_nec, 216, 224) == "62701    "
    assert _at(a_nec, 225, 239) == "2175550100".ljust(15)

    # Payees in order of their external ids: B1 (business, EIN) then C1 (individual, SSN).
    assert _at(b_b1, 7, 10) == "    "  # no name control for a business
    assert _at(b_b1, 11, 11) == "1"
    assert _at(b_b1, 12, 20) == "271234567"
    assert _at(b_b1, 55, 66) == "000000501234"
    assert _at(b_b1, 288, 327) == "DIAZ & SONS INC".ljust(40)
    assert _at(b_b1, 448, 487) == "SAN ANTONIO".ljust(40)
    assert _at(b_b1, 490, 498) == "782051234"
    assert _at(c1 := b_c1, 7, 10) == "DIAZ"
    assert _at(c1, 11, 11) == "2"
    assert _at(c1, 12, 20) == "123456780"
    assert len(_at(c1, 21, 40).strip()) == 20  # the payer's account number for the payee
    assert _at(c1, 55, 66) == "000000250000"
    for code in range(1, 18):  # every other payment amount is zeros, never blanks
        assert _at(c1, 55 + 12 * code, 66 + 12 * code) == "0" * 12
    assert _at(c1, 271, 287) == " " * 17
    assert _at(c1, 288, 327) == "ANA DIAZ".ljust(40)
    assert _at(c1, 368, 407) == "12 ELM ST APT 4".ljust(40)
    assert _at(c1, 408, 447) == " " * 40
    assert _at(c1, 448, 487) == "AUSTIN".ljust(40)
    assert _at(c1, 488, 489) == "TX"
    assert _at(c1, 490, 498) == "78701    "
    assert _at(c1, 544, 722).strip() == ""
    assert _at(c1, 723, 734) == "0" * 12
    assert _at(c1, 735, 746) == "0" * 12
    assert _at(c1, 747, 748) == "  "

    assert _at(c_nec, 2, 9) == "00000002"
    assert _at(c_nec, 16, 33) == f"{250000 + 501234:018d}"
    for i in range(1, 18):
        assert _at(c_nec, 16 + 18 * i, 33 + 18 * i) == "0" * 18
    assert _at(c_nec, 340, 499).strip() == ""

    assert _at(a_misc, 26, 27) == "A "
    assert _at(a_misc, 28, 45) == "34".ljust(18)
    # The customer without a TIN: paid with 24 % backup withholding, TIN blank.
    assert _at(b_m1, 11, 20) == " " * 10
    assert _at(b_m1, 55, 66) == "0" * 12
    assert _at(b_m1, 79, 90) == "000000070000"
    assert _at(b_m1, 91, 102) == "000000016800"
    assert _at(b_m1, 288, 327) == "MIA ONEIL".ljust(40)
    assert _at(c_misc, 2, 9) == "00000001"
    assert _at(c_misc, 52, 69) == f"{70000:018d}"
    assert _at(c_misc, 70, 87) == f"{16800:018d}"

    assert _at(f, 2, 9) == "00000002"
    assert _at(f, 10, 30) == "0" * 21
    assert _at(f, 50, 57) == "00000003"
    assert _at(f, 58, 499).strip() == ""

    test_file = _get(client, tenant, "/api/v1/tax/exports/fire?year=2025&test=true")
    assert test_file[27:28] == b"T"
    with database.session() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "tax:export:fire")
        ).first()
        assert entry is not None
        assert entry.details["payees"] == 3
        assert entry.details["total_usd"] == "8212.34"


def test_iris_csv_for_2026(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    outbox: Outbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _year(client, tenant, database, outbox, monkeypatch, year=2026, prize="2100.00")
    nec = list(
        csv.reader(
            io.StringIO(
                _get(client, tenant, "/api/v1/tax/exports/iris?year=2026&form=nec").decode()
            )
        )
    )
    header, *rows = nec
    assert header[:3] == ["Form Type", "Tax Year", "Payer TIN Type"]
    assert header[36] == "Form Account Number"
    assert header[37:42] == [
        "2nd TIN Notice",
        "Box 1 - Nonemployee Compensation",
        header[39],
        "Box 3 - Excess golden parachute payments",
        "Box 4 - Federal income tax withheld",
    ]
    assert len(header) == 37 + 6 + 12
    assert len(rows) == 2
    by = {
        r[header.index("Recipient Taxpayer ID Number")]: dict(zip(header, r, strict=True))
        for r in rows
    }
    c1 = by["123456780"]
    assert c1["Form Type"] == "1099-NEC"
    assert c1["Tax Year"] == "2026"
    assert c1["Payer Taxpayer ID Number"] == "123456780"
    assert c1["Payer Business or Entity Name Line 1"] == "Acme Learning Inc"
    assert c1["Recipient TIN Type"] == "SSN"
    assert c1["Recipient Name Type"] == "I"
    assert (c1["Recipient First Name"], c1["Recipient Last Name (Surname)"]) == ("Ana", "Díaz")
    assert c1["Recipient ZIP/Postal Code"] == "78701"
    assert c1["Box 1 - Nonemployee Compensation"] == "2500.00"
    assert c1["Box 4 - Federal income tax withheld"] == ""
    b1 = by["271234567"]
    assert (b1["Recipient TIN Type"], b1["Recipient Name Type"]) == ("EIN", "B")
    assert b1["Recipient Business or Entity Name Line 1"] == "Díaz & Sons, Inc."
    assert b1["Box 1 - Nonemployee Compensation"] == "5012.34"

    misc = list(
        csv.reader(
            io.StringIO(
                _get(client, tenant, "/api/v1/tax/exports/iris?year=2026&form=misc").decode()
            )
        )
    )
    header, *rows = misc
    assert "Box 14 - Excess golden parachute payments" not in " ".join(header)
    assert len(header) == 37 + 16 + 12
    [m1] = [dict(zip(header, r, strict=True)) for r in rows]
    assert m1["Box 3 - Other Income"] == "2100.00"
    assert m1["Box 4 - Federal income tax withheld"] == "504.00"
    assert m1["Recipient Taxpayer ID Number"] == ""
    # Sam's $100 is under the $2,000 threshold: no return.
    refused = client.get("/api/v1/tax/exports/iris?year=2025&form=nec", headers=tenant.headers)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["field"] == "year"
    fire = client.get("/api/v1/tax/exports/fire?year=2026", headers=tenant.headers)
    assert fire.status_code == 422
    assert (
        "IRIS" in fire.json()["detail"][0]["message"]
        or "iris" in fire.json()["detail"][0]["message"]
    )


def test_totals_csv_and_xlsx_and_payroll(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    outbox: Outbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _year(client, tenant, database, outbox, monkeypatch, year=2026, prize="2100.00")
    text = _get(client, tenant, "/api/v1/tax/exports/totals?year=2026").decode()
    lines = list(csv.DictReader(io.StringIO(text)))
    by = {row["learner_external_id"]: row for row in lines}
    assert set(by) == {"B1", "C1", "E1", "M1", "S1"}
    assert by["C1"]["form_type"] == "1099-NEC"
    assert by["C1"]["total_usd"] == "2500.00"
    assert by["C1"]["reportable"] == "yes"
    assert by["C1"]["tin"] == "***-**-6780"
    assert by["B1"]["tin"] == "**-***4567"
    assert (by["M1"]["backup_withholding_usd"], by["M1"]["reportable"]) == ("504.00", "yes")
    assert (by["S1"]["total_usd"], by["S1"]["reportable"]) == ("100.00", "no")
    assert (by["E1"]["form_type"], by["E1"]["reportable"]) == ("W-2", "payroll")
    assert by["S1"]["threshold_usd"] == "2000.00"

    book = load_workbook(
        io.BytesIO(_get(client, tenant, "/api/v1/tax/exports/totals?year=2026&format=xlsx"))
    )
    sheet = book.active
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == list(lines[0].keys())
    xlsx = {row[1]: row for row in values[1:]}
    # Amounts are numbers in the sheet (finance sums them), exact to the cent.
    assert Decimal(str(xlsx["C1"][6])) == Decimal("2500.00")
    assert Decimal(str(xlsx["M1"][7])) == Decimal("504.00")
    assert xlsx["C1"][8] == 1

    payroll = list(
        csv.DictReader(
            io.StringIO(_get(client, tenant, "/api/v1/tax/exports/payroll?year=2026").decode())
        )
    )
    [line] = payroll
    assert line["employee_external_id"] == "E1"
    assert (line["amount"], line["currency"], line["usd_amount"]) == ("100.00", "USD", "100.00")
    assert line["paid_on"] == "2026-06-10"
    with database.session() as session:
        actions = {
            e.action
            for e in session.scalars(
                select(AuditEntry).where(AuditEntry.action.like("tax:export:%"))
            )
        }
    assert actions == {"tax:export:totals-csv", "tax:export:totals-xlsx", "tax:export:payroll"}


def test_missing_payer_settings_are_named(client: TestClient, tenant: Tenant) -> None:
    response = client.get("/api/v1/tax/exports/fire?year=2025", headers=tenant.headers)
    assert response.status_code == 422
    fields = [d["field"] for d in response.json()["detail"]]
    assert fields == [
        "payer_name",
        "payer_tin",
        "payer_address",
        "payer_city",
        "payer_state",
        "payer_zip",
        "fire_tcc",
        "contact_name",
        "payer_phone",
    ]
    iris = client.get("/api/v1/tax/exports/iris?year=2026&form=nec", headers=tenant.headers)
    assert [d["field"] for d in iris.json()["detail"]] == fields[:6]
    bad_form = client.get("/api/v1/tax/exports/iris?year=2026&form=k", headers=tenant.headers)
    assert bad_form.json()["detail"][0]["field"] == "form"
