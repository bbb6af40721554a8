"""The 1042-S export: non-US persons' flagged payments per recipient and year, CSV and XLSX,
with the organization's chapter 3 status and income codes; audited; finance only."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from laurel.audit.models import AuditEntry
from laurel.db import Database
from laurel.kit.clock import utcnow
from laurel.tax.exports import s1042
from tests.conftest import Tenant
from tests.factories import fixed_program, role_key
from tests.tax.support import W8BEN, Outbox, deliver_at, earn, settings


def _year(client: TestClient, tenant: Tenant, database: Database, outbox: Outbox) -> int:
    """A German customer with a W-8BEN (two payments), a Japanese one without a form, and a
    US customer (1099-MISC, not in the file)."""
    for key, amount, course in (("big", "600.00", "BIG"), ("small", "100.00", "SMALL")):
        fixed_program(client, tenant, key=key, amount=amount, conditions={"course_ids": [course]})
    paid = [earn(client, tenant, "d-1", learner="DE1", country="DE", course="BIG")]
    response = client.post(f"/tax/forms/{outbox.token()}", data=W8BEN)
    assert response.status_code == 200, response.text
    paid.append(earn(client, tenant, "d-2", learner="DE1", country="DE", course="SMALL"))
    paid.append(earn(client, tenant, "j-1", learner="JP1", country="JP", course="SMALL"))
    paid.append(earn(client, tenant, "u-1", learner="US1", country="US", course="SMALL"))
    now = utcnow()
    for reward in paid:
        assert reward["state"] == "ready", reward
        deliver_at(database, reward["id"], now)
    return now.year


def _get(client: TestClient, headers: dict[str, str], url: str) -> bytes:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return response.content


def test_csv_lists_each_recipient_with_the_configured_codes(
    client: TestClient, tenant: Tenant, database: Database, outbox: Outbox
) -> None:
    year = _year(client, tenant, database, outbox)
    finance = role_key(database, tenant, "finance")
    response = client.get(f"/api/v1/tax/exports/1042s?year={year}", headers=finance)
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"] == (
        f'attachment; filename="tax-1042s-{year}.csv"'
    )
    header, *rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert tuple(header) == s1042.HEADER
    by = {r[header.index("recipient_external_id")]: dict(zip(header, r, strict=True)) for r in rows}
    assert set(by) == {"DE1", "JP1"}
    de = by["DE1"]
    assert de["tax_year"] == str(year)
    assert de["recipient_name"] == "Jonas Müller"
    assert (de["recipient_country"], de["recipient_citizenship"]) == ("DE", "DE")
    assert (de["recipient_address"], de["recipient_city"]) == ("Hauptstraße 5", "Berlin")
    assert de["recipient_postal_code"] == "10115"
    assert de["form_on_file"] == "W-8BEN"
    assert (de["chapter3_status_code"], de["income_code"]) == ("16", "23")
    assert (de["gross_income_usd"], de["federal_tax_withheld_usd"]) == ("700.00", "0.00")
    assert de["payments"] == "2"
    assert len(de["recipient_account_number"]) == 20
    jp = by["JP1"]
    assert (jp["recipient_country"], jp["form_on_file"], jp["gross_income_usd"]) == (
        "JP",
        "",
        "100.00",
    )
    with database.sessionmaker() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "tax:export:1042s-csv")
        ).one()
    assert entry.details["payees"] == 2
    assert entry.details["total_usd"] == "800.00"
    assert entry.details["file"] == f"tax-1042s-{year}.csv"


def test_xlsx_has_the_same_columns_and_the_organizations_codes(
    client: TestClient, tenant: Tenant, database: Database, outbox: Outbox
) -> None:
    year = _year(client, tenant, database, outbox)
    changed = settings(client, tenant, income_code_1042s="16", chapter3_status_1042s="16")
    assert (changed["income_code_1042s"], changed["chapter3_status_1042s"]) == ("16", "16")
    content = _get(client, tenant.headers, f"/api/v1/tax/exports/1042s?year={year}&format=xlsx")
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == s1042.HEADER
    by = {row[2]: dict(zip(s1042.HEADER, row, strict=True)) for row in values[1:]}
    assert by["DE1"]["gross_income_usd"] == Decimal("700.00")
    assert by["DE1"]["payments"] == 2
    assert (by["DE1"]["income_code"], by["DE1"]["chapter3_status_code"]) == ("16", "16")
    with database.sessionmaker() as session:
        assert session.scalars(
            select(AuditEntry).where(AuditEntry.action == "tax:export:1042s-xlsx")
        ).one()


def test_codes_are_checked_and_only_finance_exports(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    bad = client.patch(
        "/api/v1/tax/settings",
        json={"income_code_1042s": "X1", "chapter3_status_1042s": "7"},
        headers=tenant.headers,
    )
    assert bad.status_code == 422
    assert [d["field"] for d in bad.json()["detail"]] == [
        "income_code_1042s",
        "chapter3_status_1042s",
    ]
    year = utcnow().year
    url = f"/api/v1/tax/exports/1042s?year={year}"
    for headers in (role_key(database, tenant, "compliance"), role_key(database, tenant)):
        assert client.get(url, headers=headers).status_code == 403
    assert client.get(url, headers=role_key(database, tenant, "finance")).status_code == 200
    test_mode = client.get(url, headers=tenant.test_headers)
    assert test_mode.status_code == 403
    empty = _get(client, tenant.headers, url).decode()
    assert empty.splitlines() == [",".join(s1042.HEADER)]
