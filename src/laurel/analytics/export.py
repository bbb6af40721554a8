"""Tables out as CSV or XLSX: the same rows the JSON answer carries, one column per key."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from fastapi import Response
from openpyxl import Workbook

FORMATS = ("json", "csv", "xlsx")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for row in rows:
        names.extend(k for k in row if k not in names)
    return names


def _cell(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"amount", "currency"}:
        return f"{value['amount']} {value['currency']}"
    if isinstance(value, list | dict):
        return str(value)
    return value


def _safe(value: Any) -> Any:
    # A cell starting with = + - @ would run as a formula in a spreadsheet (CSV injection).
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") and not _number(value):
        return "'" + value
    return value


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_bytes(rows: Sequence[dict[str, Any]]) -> bytes:
    columns = _columns(rows)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_safe(_cell(row.get(c))) for c in columns])
    return out.getvalue().encode("utf-8")


def xlsx_bytes(rows: Sequence[dict[str, Any]], title: str) -> bytes:
    columns = _columns(rows)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    sheet.append(columns)
    for row in rows:
        sheet.append([_safe(_cell(row.get(c))) for c in columns])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def table(rows: Sequence[dict[str, Any]], fmt: str, name: str) -> Response:
    """The rows as a CSV or XLSX download named ``name``."""
    if fmt == "csv":
        return Response(
            csv_bytes(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return Response(
        xlsx_bytes(rows, name),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
    )
