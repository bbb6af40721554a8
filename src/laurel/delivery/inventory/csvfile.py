"""Reading an inventory CSV: brand, value, currency, code, PIN, expiry (one code a row).

Every bad row is reported with its row number (the header is row 1, as a spreadsheet shows it),
the column and why; the good rows are kept. The header names are matched case-insensitively.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from laurel.kit import currency as currencies
from laurel.kit.errors import field_error
from laurel.kit.money import Money

REQUIRED = ("brand", "value", "currency", "code")
OPTIONAL = ("pin", "expiry")
MAX_CODE = 200
MAX_BRAND = 100


@dataclass(frozen=True, slots=True)
class CodeRow:
    row: int
    brand: str
    value: Money
    code: str
    pin: str | None
    expires_on: date | None


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    column: str
    message: str


def parse(data: bytes, today: date) -> tuple[list[CodeRow], list[RowError]]:
    """The valid rows and one error per bad row. A file that is not a CSV with the required
    columns is refused as a whole (field ``file``)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise field_error("file", f"not UTF-8 text (byte {exc.start})") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise field_error("file", "the file is empty; expected a header row: " + _columns())
    names = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise field_error(
            "file", f"missing column(s) {', '.join(missing)}; expected a header row: {_columns()}"
        )
    position = {name: names.index(name) for name in (*REQUIRED, *OPTIONAL) if name in names}
    rows: list[CodeRow] = []
    bad: list[RowError] = []
    for number, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue  # blank lines (often at the end) are not rows

        def cell(name: str, cells: list[str] = cells) -> str:
            at = position.get(name)
            return cells[at].strip() if at is not None and at < len(cells) else ""

        parsed = _row(number, cell, today)
        if isinstance(parsed, CodeRow):
            rows.append(parsed)
        else:
            bad.append(parsed)
    return rows, bad


def _columns() -> str:
    return "brand,value,currency,code,PIN,expiry"


def _row(number: int, cell: Callable[[str], str], today: date) -> CodeRow | RowError:
    brand = cell("brand")
    if not brand:
        return RowError(number, "brand", "is empty")
    if len(brand) > MAX_BRAND:
        return RowError(number, "brand", f"is longer than {MAX_BRAND} characters")
    code_name = cell("currency").upper()
    if not currencies.is_known(code_name) or code_name == currencies.POINTS:
        return RowError(number, "currency", f"{cell('currency')!r} is not an ISO 4217 code")
    try:
        value = Money.parse(cell("value"), code_name)
    except ValueError as exc:
        return RowError(number, "value", str(exc))
    if value.minor <= 0:
        return RowError(number, "value", "must be more than zero")
    code = cell("code")
    if not code:
        return RowError(number, "code", "is empty")
    if len(code) > MAX_CODE:
        return RowError(number, "code", f"is longer than {MAX_CODE} characters")
    pin = cell("pin") or None
    if pin is not None and len(pin) > MAX_CODE:
        return RowError(number, "pin", f"is longer than {MAX_CODE} characters")
    expires_on = None
    if cell("expiry"):
        try:
            expires_on = date.fromisoformat(cell("expiry"))
        except ValueError:
            return RowError(number, "expiry", f"{cell('expiry')!r} is not a date (YYYY-MM-DD)")
        if expires_on < today:
            return RowError(number, "expiry", f"the code expired on {expires_on.isoformat()}")
    return CodeRow(number, brand, value, code, pin, expires_on)
