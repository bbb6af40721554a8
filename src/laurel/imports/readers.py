"""Reading CSV and XLSX files row by row, never the whole file at once.

Every cell comes out as text (or None when empty), so one parser serves both formats: XLSX dates
become ISO 8601 and whole numbers lose Excel's ``.0``.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

from laurel.imports.models import FileFormat

Cell = str | None


class FileError(ValueError):
    """The file cannot be read as the format it claims to be."""


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    """Row number as a spreadsheet shows it: the header is 1."""
    cells: list[Cell]


@dataclass
class Table:
    headers: list[Cell]
    rows: Iterator[Row]


def detect_format(filename: str, head: bytes) -> FileFormat:
    """XLSX files are ZIP archives; anything else is read as CSV text."""
    if head.startswith(b"PK\x03\x04") or filename.lower().endswith((".xlsx", ".xlsm")):
        return FileFormat.xlsx
    return FileFormat.csv


def _text(value: object) -> Cell:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def _strip(value: object) -> Cell:
    return str(value).strip() or None


def _csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    # utf-8-sig drops the byte-order mark Excel writes at the start of "CSV UTF-8" files.
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        sample = handle.read(8192)
        handle.seek(0)
        try:
            dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
                sample.split("\n", 1)[0] or ",", delimiters=",;\t|"
            )
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(handle, dialect)
        start = 1
        try:
            for record in reader:
                yield start, record
                start = reader.line_num + 1
        except UnicodeDecodeError as exc:
            raise FileError(
                f"the file is not UTF-8 text near line {reader.line_num + 1} ({exc.reason}); "
                "save it as CSV UTF-8"
            ) from None
        except csv.Error as exc:
            raise FileError(f"CSV error near line {reader.line_num}: {exc}") from None


def _xlsx_rows(path: Path) -> Iterator[tuple[int, list[object]]]:
    from openpyxl import load_workbook  # noqa: PLC0415 - only XLSX imports pay for it

    # A file object: openpyxl judges a path by its extension, and uploads are stored without one.
    handle = path.open("rb")
    try:
        # read_only streams the sheet XML instead of building every cell in memory.
        book = load_workbook(handle, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged archive
        handle.close()
        raise FileError(f"not a readable XLSX workbook: {exc}") from None
    try:
        sheet = book.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, list(values)
    finally:
        book.close()
        handle.close()


@contextmanager
def open_table(path: Path, file_format: str) -> Iterator[Table]:
    """The header row and an iterator over the data rows; blank rows are skipped."""
    raw: Iterator[tuple[int, list[object]]] | Iterator[tuple[int, list[str]]]
    raw = _xlsx_rows(path) if file_format == FileFormat.xlsx else _csv_rows(path)
    try:
        first = next(raw, None)
        if first is None:
            raise FileError("the file is empty: expected a header row")
        headers = [_text(v) for v in first[1]]
        while headers and headers[-1] is None:
            headers.pop()

        # CSV cells are text already: the fast path skips the type checks XLSX cells need.
        convert = _text if file_format == FileFormat.xlsx else _strip

        def rows() -> Iterator[Row]:
            for line, values in raw:
                cells = [convert(v) for v in values]
                if any(c is not None for c in cells):
                    yield Row(line, cells)

        yield Table(headers, rows())
    finally:
        close = getattr(raw, "close", None)
        if close is not None:
            close()


def check_utf8(path: Path) -> None:
    """Fail early, before any row is imported, on a CSV file that is not UTF-8 at all."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as handle:
        offset = 0
        while chunk := handle.read(1 << 16):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                raise FileError(
                    f"the file is not UTF-8 text (byte {offset + exc.start}); save it as CSV UTF-8"
                ) from None
            offset += len(chunk)
