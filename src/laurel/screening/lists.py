"""Reading OFAC's legacy CSV files: the SDN list and the consolidated (non-SDN) list.

The layout (no header row; ``-0-`` for empty; a trailing Ctrl-Z line) is OFAC's:

- ``sdn.csv`` / ``cons_prim.csv``: ent_num, name, type (``individual``, ``vessel``,
  ``aircraft``, or empty for entities), programs (``SDGT] [IRGC``), title, call sign, vessel
  type, tonnage, GRT, vessel flag, vessel owner, remarks.
- ``alt.csv`` / ``cons_alt.csv``: ent_num, alt_num, alt_type (``aka``, ``fka``, ``nka``),
  alt_name, alt_remarks.
- ``add.csv`` / ``cons_add.csv``: ent_num, add_num, address, city/state/postal code, country,
  remarks.
- ``sdn_comments.csv`` / ``cons_comments.csv``: ent_num, remarks that did not fit column 12.

Only parsing lives here: where the bytes come from is :mod:`laurel.screening.sources`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field

from laurel.kit.errors import field_error

NULL = "-0-"


@dataclass(frozen=True, slots=True)
class ListSpec:
    code: str
    """``SDN`` or ``CONS``: the list an entry is on, as matches report it."""
    primary: str
    alt: str
    add: str
    comments: str


SDN = ListSpec("SDN", "sdn.csv", "alt.csv", "add.csv", "sdn_comments.csv")
CONSOLIDATED = ListSpec(
    "CONS", "cons_prim.csv", "cons_alt.csv", "cons_add.csv", "cons_comments.csv"
)
SPECS = (SDN, CONSOLIDATED)


@dataclass(slots=True)
class Entry:
    """One listing with its strong aliases and the countries of its addresses."""

    list_code: str
    ent_num: int
    name: str
    sdn_type: str
    """``individual``, ``entity``, ``vessel`` or ``aircraft``."""
    programs: list[str]
    remarks: str
    aliases: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)


def _text(value: str) -> str:
    value = value.strip()
    return "" if value == NULL else value


def _decode(data: bytes) -> str:
    # OFAC's files are ASCII today; accented names in older or future files come as UTF-8 or,
    # from Windows tooling, as cp1252. Decoding never guesses past those two.
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def rows(data: bytes, *, filename: str, columns: int) -> Iterator[list[str]]:
    """Records of one file; the Ctrl-Z end marker and blank lines are skipped."""
    reader = csv.reader(io.StringIO(_decode(data), newline=""))
    for record in reader:
        if not record or record == ["\x1a"] or all(not v.strip() for v in record):
            continue
        if len(record) < columns:
            raise field_error(
                filename,
                f"line {reader.line_num}: expected {columns} columns, found {len(record)}",
            )
        yield record


def _ent_num(value: str, filename: str, line: int) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise field_error(filename, f"record {line}: ent_num {value!r} is not a number") from None


def parse(spec: ListSpec, files: dict[str, bytes]) -> list[Entry]:
    """Entries of one list from its files (``alt``, ``add`` and comments may be absent).

    Aliases and addresses whose ``ent_num`` is not on the primary file are dropped: OFAC
    publishes the files separately, and a copy taken mid-update can carry a few such orphans.
    """
    entries: dict[int, Entry] = {}
    for n, record in enumerate(rows(files[spec.primary], filename=spec.primary, columns=12), 1):
        ent_num = _ent_num(record[0], spec.primary, n)
        programs = [p.strip() for p in _text(record[3]).strip("[]").split("] [") if p.strip()]
        entries[ent_num] = Entry(
            list_code=spec.code,
            ent_num=ent_num,
            name=_text(record[1]),
            sdn_type=_text(record[2]).lower() or "entity",
            programs=programs,
            remarks=_text(record[11]),
        )
    if spec.comments in files:
        for n, record in enumerate(rows(files[spec.comments], filename=spec.comments, columns=2)):
            found = entries.get(_ent_num(record[0], spec.comments, n + 1))
            if found is not None:
                found.remarks += _text(record[1])
    if spec.alt in files:
        for n, record in enumerate(rows(files[spec.alt], filename=spec.alt, columns=4), 1):
            found = entries.get(_ent_num(record[0], spec.alt, n))
            alias = _text(record[3])
            if found is not None and alias and alias not in found.aliases:
                found.aliases.append(alias)
    if spec.add in files:
        for n, record in enumerate(rows(files[spec.add], filename=spec.add, columns=5), 1):
            found = entries.get(_ent_num(record[0], spec.add, n))
            country = _text(record[4])
            if found is not None and country and country not in found.countries:
                found.countries.append(country)
    return [e for e in entries.values() if e.name]
