"""Reading CSV and XLSX files row by row, never the whole file at once.

Every cell comes out as text (or None when empty), so one parser serves both formats: XLSX dates
become ISO 8601 and whole numbers lose Excel's ``.0``. XLSX rows also keep the cells' own values
(dates, numbers), so a date cell is read as a date whatever text format the mapping names.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING

from laurel.imports.models import FileFormat

if TYPE_CHECKING:
    from openpyxl.workbook.workbook import Workbook

Cell = str | None


class FileError(ValueError):
    """The file cannot be read as the format it claims to be."""


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    """Row number as a spreadsheet shows it: the header is 1."""
    cells: list[Cell]
    values: tuple[object, ...] = ()
    """XLSX only: the cells as the workbook holds them (datetime, int, float, str, …)."""


@dataclass
class Table:
    headers: list[Cell]
    rows: Iterator[Row]
    delimiter: str | None = None
    """CSV only: the delimiter detected."""
    epoch: datetime | None = None
    """XLSX only: day 0 of the workbook's date system (1900, or 1904 on old Macs), for dates
    stored as bare serial numbers."""


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


# Delimiters a spreadsheet program writes; anything else would be a guess.
DELIMITERS = ",;\t|"
_SAMPLE_CHARS = 16384


def csv_delimiter(path: Path) -> str:
    """The delimiter, sniffed over the first lines (the header and some data rows).

    Only the delimiter is taken from the sniffer: its guesses at quoting are unreliable (on a
    header line alone it says ``doublequote=False``), and every spreadsheet program quotes as
    Excel does (RFC 4180: ``"``, with ``""`` for a quote inside a quoted field). The delimiter
    must occur in the header line, which has at least two columns; when the sniff over several
    lines names another one, the header line alone decides.
    """
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        try:
            sample = handle.read(_SAMPLE_CHARS)
        except UnicodeDecodeError as exc:
            raise FileError(
                f"the file is not UTF-8 text ({exc.reason}); save it as CSV UTF-8"
            ) from None
    header = sample.split("\n", 1)[0]
    if len(sample) == _SAMPLE_CHARS and "\n" in sample.rstrip("\r\n"):
        # A sample cut inside a row would count that row's delimiters short.
        sample = sample[: sample.rstrip("\r\n").rindex("\n")]
    for text in (sample, header):
        try:
            found = csv.Sniffer().sniff(text, delimiters=DELIMITERS).delimiter
        except csv.Error:
            continue
        if found in header:
            return found
    return ","


def _csv_rows(path: Path, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    # utf-8-sig drops the byte-order mark Excel writes at the start of "CSV UTF-8" files.
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, csv.excel, delimiter=delimiter)
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


@contextmanager
def _workbook(path: Path) -> Iterator[Workbook]:
    from openpyxl import load_workbook  # noqa: PLC0415 - only XLSX imports pay for it

    # A file object: openpyxl judges a path by its extension, and uploads are stored without one.
    with path.open("rb") as handle:
        try:
            # read_only streams the sheet XML instead of building every cell in memory.
            book = load_workbook(handle, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a damaged archive
            raise FileError(f"not a readable XLSX workbook: {exc}") from None
        try:
            yield book
        finally:
            book.close()


def _xlsx_rows(book: Workbook) -> Iterator[tuple[int, list[object]]]:
    sheet = book.worksheets[0]
    # Read-only mode trusts the sheet's <dimension ref>, which some tools write wrong (as A1:
    # one cell); forgetting it makes openpyxl read every row as far as it goes.
    reset = getattr(sheet, "reset_dimensions", None)
    if reset is not None:
        reset()
    for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        yield number, list(values)


@contextmanager
def open_table(path: Path, file_format: str) -> Iterator[Table]:
    """The header row and an iterator over the data rows; blank rows are skipped."""
    with ExitStack() as stack:
        raw: Iterator[tuple[int, list[object]]] | Iterator[tuple[int, list[str]]]
        delimiter: str | None = None
        epoch: datetime | None = None
        xlsx = file_format == FileFormat.xlsx
        if xlsx:
            book = stack.enter_context(_workbook(path))
            epoch = book.epoch
            raw = _xlsx_rows(book)
        else:
            delimiter = csv_delimiter(path)
            raw = _csv_rows(path, delimiter)
        close = getattr(raw, "close", None)
        if close is not None:
            stack.callback(close)
        first = next(raw, None)
        if first is None:
            raise FileError("the file is empty: expected a header row")
        headers = [_text(v) for v in first[1]]
        while headers and headers[-1] is None:
            headers.pop()

        def csv_rows() -> Iterator[Row]:
            # CSV cells are text already: the fast path skips the type checks XLSX cells need.
            for line, values in raw:
                cells = [_strip(v) for v in values]
                if any(c is not None for c in cells):
                    yield Row(line, cells)

        def xlsx_rows() -> Iterator[Row]:
            # Without trusted dimensions, openpyxl ends each row at its last cell: pad to the
            # header's width, as a spreadsheet shows it.
            width = len(headers)
            for line, found in raw:
                values = (*found, *[None] * (width - len(found)))
                cells = [_text(v) for v in values]
                if any(c is not None for c in cells):
                    yield Row(line, cells, values)

        yield Table(headers, xlsx_rows() if xlsx else csv_rows(), delimiter, epoch)


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
