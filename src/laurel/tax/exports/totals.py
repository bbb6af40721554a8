"""Per-learner annual totals by form type, for finance: CSV and XLSX with the same columns."""

from __future__ import annotations

import csv
import io

from openpyxl import Workbook

from laurel.tax.exports.common import ExportFile, Payee, dollars

HEADER = (
    "tax_year",
    "learner_external_id",
    "learner_name",
    "classification",
    "form_type",
    "box",
    "total_usd",
    "backup_withholding_usd",
    "payments",
    "threshold_usd",
    "reportable",
    "form_on_file",
    "tin",
    "reports_1042s",
)


def rows(tax_year: int, payees: list[Payee], threshold_minor: int) -> list[list[str]]:
    out = []
    for p in payees:
        t = p.total
        wages = t.form_type == "W-2"
        reportable = (
            "payroll"
            if wages
            else ("yes" if t.usd_minor >= threshold_minor or t.withholding_minor else "no")
        )
        out.append(
            [
                str(tax_year),
                p.external_id,
                p.name,
                p.classification,
                t.form_type,
                t.box,
                dollars(t.usd_minor),
                dollars(t.withholding_minor),
                str(t.payments),
                "" if wages else dollars(threshold_minor),
                reportable,
                p.profile.form if p.profile else "",
                p.masked_tin,
                "yes" if t.reports_1042s else "no",
            ]
        )
    return out


def as_csv(tax_year: int, payees: list[Payee], threshold_minor: int) -> ExportFile:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows(tax_year, payees, threshold_minor))
    return ExportFile(
        f"tax-totals-{tax_year}.csv", "text/csv; charset=utf-8", buffer.getvalue().encode()
    )


def as_xlsx(tax_year: int, payees: list[Payee], threshold_minor: int) -> ExportFile:
    book = Workbook()
    sheet = book.active
    sheet.title = f"Totals {tax_year}"
    sheet.append(list(HEADER))
    money = {HEADER.index("total_usd"), HEADER.index("backup_withholding_usd")}
    for line in rows(tax_year, payees, threshold_minor):
        # Amounts as numbers finance can add up; cents are exact in a decimal string -> Decimal.
        from decimal import Decimal  # noqa: PLC0415

        sheet.append(
            [
                Decimal(v) if i in money else (int(v) if i == HEADER.index("payments") else v)
                for i, v in enumerate(line)
            ]
        )
    for col in ("G", "H"):
        for cell in sheet[col][1:]:
            cell.number_format = "#,##0.00"
    buffer = io.BytesIO()
    book.save(buffer)
    return ExportFile(
        f"tax-totals-{tax_year}.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        buffer.getvalue(),
    )
