"""Reading the ECB's euro foreign exchange reference rates in the forms the ECB publishes.

- ``eurofxref.csv`` (inside ``eurofxref.zip``): one day; a header ``Date, USD, JPY, …,`` and a
  row ``25 November 2026, 1.0450, 160.12, …,`` (spaces after commas, a trailing comma).
- ``eurofxref-hist.csv`` (inside ``eurofxref-hist.zip``): every day since 1999, ISO dates,
  ``N/A`` where a currency was not quoted that day (currencies that stopped or started).
- ``eurofxref-daily.xml`` / ``eurofxref-hist-90d.xml``: ``<Cube time="…"><Cube currency="USD"
  rate="1.0450"/>…``.

Every rate is "units of the currency for one euro". Currencies Laurel does not know (the
legacy codes the history still carries, such as ``CYP``) are counted and skipped; a malformed
cell is reported with its line and column and the rest of the file is kept.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from xml.etree import ElementTree

from laurel.kit import currency
from laurel.kit.errors import field_error

BASE = "EUR"
SOURCE = "ecb"


@dataclass(frozen=True, slots=True)
class Quote:
    day: date
    currency: str
    rate: Decimal


@dataclass(slots=True)
class Parsed:
    quotes: list[Quote] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Precise messages for cells that could not be read (line, column, why)."""
    skipped_currencies: set[str] = field(default_factory=set)
    """Codes in the file that are not active ISO 4217 currencies (kept out)."""


def parse(content: bytes, name: str = "") -> Parsed:
    """Rates from a CSV, XML or ZIP (holding either) as the ECB publishes them."""
    if content[:2] == b"PK":
        return _from_zip(content)
    text = content.decode("utf-8-sig", errors="strict").lstrip()
    if text.startswith("<"):
        return _from_xml(text)
    if not text:
        raise field_error("file", f"{name or 'the file'} is empty")
    return _from_csv(text)


def _from_zip(content: bytes) -> Parsed:
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile:
        raise field_error("file", "the ZIP archive is damaged") from None
    members = [n for n in archive.namelist() if n.lower().endswith((".csv", ".xml"))]
    if not members:
        raise field_error("file", "the ZIP archive holds no .csv or .xml file")
    merged = Parsed()
    for member in members:
        part = parse(archive.read(member), member)
        merged.quotes.extend(part.quotes)
        merged.problems.extend(f"{member}: {p}" for p in part.problems)
        merged.skipped_currencies |= part.skipped_currencies
    return merged


_MONTHS = {
    name: number
    for number, name in enumerate(
        (
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ),
        start=1,
    )
}


def _day(raw: str) -> date:
    """``2026-11-25`` or ``25 November 2026`` (English month names whatever the locale)."""
    raw = raw.strip()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        pass
    parts = raw.split()
    if len(parts) == 3 and parts[0].isdigit() and parts[2].isdigit():
        month = _MONTHS.get(parts[1].lower())
        if month is not None:
            try:
                return date(int(parts[2]), month, int(parts[0]))
            except ValueError:
                pass
    raise ValueError(f"date {raw!r} is neither YYYY-MM-DD nor like '25 November 2026'")


def _rate(raw: str) -> Decimal | None:
    """The rate, or None for a cell the ECB leaves empty or marks ``N/A``."""
    raw = raw.strip()
    if raw in ("", "N/A"):
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"rate {raw!r} is not a decimal number") from None
    if not value.is_finite() or value <= 0:
        raise ValueError(f"rate {raw!r} must be a positive number")
    return value


def _from_csv(text: str) -> Parsed:
    out = Parsed()
    rows = list(csv.reader(io.StringIO(text)))
    header = [h.strip().upper() for h in rows[0]]
    if not header or header[0] != "DATE":
        raise field_error("file", "the first column of the header must be 'Date'")
    columns: list[tuple[int, str]] = []
    for index, code in enumerate(header[1:], start=1):
        if not code:
            continue  # the trailing comma
        if currency.is_known(code) and code != currency.POINTS:
            columns.append((index, code))
        else:
            out.skipped_currencies.add(code)
    for line, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        try:
            day = _day(row[0])
        except ValueError as exc:
            out.problems.append(f"line {line}, column Date: {exc}")
            continue
        for index, code in columns:
            if index >= len(row):
                out.problems.append(f"line {line}, column {code}: missing")
                continue
            try:
                value = _rate(row[index])
            except ValueError as exc:
                out.problems.append(f"line {line}, column {code}: {exc}")
                continue
            if value is not None:
                out.quotes.append(Quote(day, code, value))
    return out


def _from_xml(text: str) -> Parsed:
    out = Parsed()
    try:
        root = ElementTree.fromstring(text)  # noqa: S314 - no entities expanded by ElementTree
    except ElementTree.ParseError as exc:
        raise field_error("file", f"the XML is not well-formed: {exc}") from None
    for day_cube in root.iter():
        if not day_cube.tag.endswith("Cube") or "time" not in day_cube.attrib:
            continue
        try:
            day = _day(day_cube.attrib["time"])
        except ValueError as exc:
            out.problems.append(f"Cube time: {exc}")
            continue
        for cube in day_cube:
            code = cube.attrib.get("currency", "").strip().upper()
            if not code:
                continue
            if not currency.is_known(code) or code == currency.POINTS:
                out.skipped_currencies.add(code)
                continue
            try:
                value = _rate(cube.attrib.get("rate", ""))
            except ValueError as exc:
                out.problems.append(f"{day.isoformat()} {code}: {exc}")
                continue
            if value is not None:
                out.quotes.append(Quote(day, code, value))
    if not out.quotes and not out.problems:
        raise field_error("file", "the XML holds no <Cube time=…> with rates")
    return out
