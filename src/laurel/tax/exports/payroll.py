"""Employee rewards treated as wages, one line per payment, for the payroll system (W-2)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

from laurel.tax.exports.common import ExportFile, dollars

HEADER = (
    "employee_external_id",
    "employee_name",
    "employee_email",
    "department",
    "paid_on",
    "tax_year",
    "reward_id",
    "program_id",
    "amount",
    "currency",
    "usd_amount",
    "usd_rate",
    "rate_date",
    "earning_type",
)


@dataclass(frozen=True, slots=True)
class WageLine:
    external_id: str
    name: str
    email: str
    department: str
    paid_on: date
    tax_year: int
    reward_id: str
    program_id: str
    amount: str
    currency: str
    usd_minor: int
    rate: str
    rate_date: date | None


def as_csv(tax_year: int, lines: list[WageLine]) -> ExportFile:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    for line in lines:
        writer.writerow(
            [
                line.external_id,
                line.name,
                line.email,
                line.department,
                line.paid_on.isoformat(),
                str(line.tax_year),
                line.reward_id,
                line.program_id,
                line.amount,
                line.currency,
                dollars(line.usd_minor),
                line.rate,
                line.rate_date.isoformat() if line.rate_date else "",
                # Non-cash awards (gift cards) are supplemental wages in payroll terms.
                "supplemental_wages",
            ]
        )
    return ExportFile(
        f"payroll-rewards-{tax_year}.csv", "text/csv; charset=utf-8", buffer.getvalue().encode()
    )
