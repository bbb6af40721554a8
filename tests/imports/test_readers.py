"""Reading files into rows: CSV quoting and delimiters, XLSX cells, dimensions and epochs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900

from laurel.imports.readers import Row, open_table
from tests.imports.support import with_dimension, workbook, write


def rows_of(path: Path, file_format: str) -> tuple[list[str | None], list[Row]]:
    with open_table(path, file_format) as table:
        return table.headers, list(table.rows)


@pytest.mark.parametrize(
    "line",
    [
        'E1,SEC-1,"Ethics: ""Speak Up"", Part 2",2026-11-27,90',
        '"E1","SEC-1","Ethics: ""Speak Up"", Part 2","2026-11-27","90"',
    ],
)
def test_csv_escaped_quotes_stay_in_their_field(tmp_path: Path, line: str) -> None:
    """RFC 4180 §2.7, as Excel writes it: "" inside a quoted field is one quote."""
    content = f"User ID,Course Code,Course Title,Completion Date,Score\r\n{line}\r\n"
    headers, rows = rows_of(write(tmp_path, "r.csv", content.encode()), "csv")
    assert headers == ["User ID", "Course Code", "Course Title", "Completion Date", "Score"]
    assert rows == [Row(2, ["E1", "SEC-1", 'Ethics: "Speak Up", Part 2', "2026-11-27", "90"])]


@pytest.mark.parametrize(
    ("content", "delimiter"),
    [
        ("\ufeffUser ID;Course Code;Completion Date;Score\r\nE1;C1;2026-11-26;85,5\r\n", ";"),
        ('User ID;Course;Date\r\nE1;"Ethics; ""Part"" 2, rev";2026-11-26\r\n', ";"),
        ("User ID\tCourse Code\tDate\r\nE1\tC1, C2\t2026-11-26\r\n", "\t"),
        ("User ID|Course Code|Date\r\nE1|C1;x|2026-11-26\r\n", "|"),
        ("User ID,Course Code,Date\r\n", ","),
    ],
)
def test_csv_delimiter_is_sniffed_over_the_first_lines(
    tmp_path: Path, content: str, delimiter: str
) -> None:
    path = write(tmp_path, "r.csv", content.encode())
    with open_table(path, "csv") as table:
        assert table.delimiter == delimiter
        assert len(table.headers) in (3, 4)
        for row in table.rows:
            assert len(row.cells) == len(table.headers)


def test_xlsx_with_a_wrong_dimension_tag_is_read_whole(tmp_path: Path) -> None:
    content = workbook(
        [
            ["User ID", "Course Code", "Completion Date"],
            ["E1", "C1", _naive(2026, 11, 26, 14, 5)],
            ["E2", "C2", None],
        ]
    )
    path = write(tmp_path, "r.xlsx", with_dimension(content, "A1"))
    headers, rows = rows_of(path, "xlsx")
    assert headers == ["User ID", "Course Code", "Completion Date"]
    assert [(r.line, r.cells) for r in rows] == [
        (2, ["E1", "C1", "2026-11-26T14:05:00"]),
        (3, ["E2", "C2", None]),
    ]
    assert rows[0].values == ("E1", "C1", _naive(2026, 11, 26, 14, 5))


@pytest.mark.parametrize("epoch", [CALENDAR_WINDOWS_1900, CALENDAR_MAC_1904])
def test_xlsx_keeps_cell_values_and_the_workbook_epoch(tmp_path: Path, epoch: datetime) -> None:
    path = write(tmp_path, "r.xlsx", workbook([["Date", "Score"], [46352, 85.5]], epoch=epoch))
    with open_table(path, "xlsx") as table:
        assert table.epoch == epoch
        assert table.delimiter is None
        (row,) = list(table.rows)
    assert row.cells == ["46352", "85.5"]
    assert row.values == (46352, 85.5)


def _naive(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A date-time as an XLSX cell holds it: without a zone."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC).replace(tzinfo=None)
