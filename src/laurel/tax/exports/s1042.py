"""Form 1042-S working file: non-US persons' reportable payments, per recipient and year.

Not an IRS e-file: 1042-S returns are filed electronically under Publication 1187 (FIRE) or
through a filing service, and neither layout is in ``shared/reference/irs-1099-formats.md``.
This file gives the filer what each return needs from Laurel — the recipient, their country,
the chapter 3 status and income codes the organization configured, the gross income in USD and
the federal tax withheld — as CSV or XLSX with the same columns (docs/tax.md says what is and
is not verified).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal

from openpyxl import Workbook

from laurel.tax.exports.common import ExportFile, dollars

HEADER = (
    "tax_year",
    "recipient_account_number",
    "recipient_external_id",
    "recipient_name",
    "recipient_country",
    "recipient_citizenship",
    "recipient_address",
    "recipient_city",
    "recipient_state_province",
    "recipient_postal_code",
    "form_on_file",
    "chapter3_status_code",
    "income_code",
    "gross_income_usd",
    "federal_tax_withheld_usd",
    "payments",
)
MONEY = ("gross_income_usd", "federal_tax_withheld_usd")


@dataclass(frozen=True, slots=True)
class Line:
    """One recipient's 1042-S reportable payments in a year."""

    account_number: str
    external_id: str
    name: str
    country: str
    citizenship: str
    address: str
    city: str
    state: str
    postal_code: str
    form_on_file: str
    gross_minor: int
    """USD cents."""
    withheld_minor: int
    """USD cents."""
    payments: int


def rows(
    tax_year: int, lines: list[Line], chapter3_status: str, income_code: str
) -> list[list[str]]:
    return [
        [
            str(tax_year),
            line.account_number,
            line.external_id,
            line.name,
            line.country,
            line.citizenship,
            line.address,
            line.city,
            line.state,
            line.postal_code,
            line.form_on_file,
            chapter3_status,
            income_code,
            dollars(line.gross_minor),
            dollars(line.withheld_minor),
            str(line.payments),
        ]
        for line in lines
    ]


def as_csv(tax_year: int, lines: list[Line], chapter3_status: str, income_code: str) -> ExportFile:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows(tax_year, lines, chapter3_status, income_code))
    return ExportFile(
        f"tax-1042s-{tax_year}.csv", "text/csv; charset=utf-8", buffer.getvalue().encode()
    )


def as_xlsx(tax_year: int, lines: list[Line], chapter3_status: str, income_code: str) -> ExportFile:
    book = Workbook()
    sheet = book.active
    sheet.title = f"1042-S {tax_year}"
    sheet.append(list(HEADER))
    money = {HEADER.index(name) for name in MONEY}
    count = HEADER.index("payments")
    for line in rows(tax_year, lines, chapter3_status, income_code):
        # Codes stay text ("01" is not 1); amounts are exact decimals finance can add up.
        sheet.append(
            [
                Decimal(v) if i in money else (int(v) if i == count else v)
                for i, v in enumerate(line)
            ]
        )
    for index in money:
        for cell in next(iter(sheet.iter_cols(min_col=index + 1, max_col=index + 1)))[1:]:
            cell.number_format = "#,##0.00"
    buffer = io.BytesIO()
    book.save(buffer)
    return ExportFile(
        f"tax-1042s-{tax_year}.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        buffer.getvalue(),
    )
