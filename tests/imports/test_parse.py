"""Header detection and row parsing, without a database."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from openpyxl.utils.datetime import CALENDAR_MAC_1904

from laurel.events.models import Outcome
from laurel.imports.columns import ColumnError, labels, resolve
from laurel.imports.models import ImportKind
from laurel.imports.parse import (
    CompletionRow,
    Options,
    RowErrors,
    completion,
    event_id,
    roster,
)
from laurel.imports.readers import Row

HEADERS: list[str | None] = ["USER_ID", "course-code", "Date Completed", "Score"]


def test_header_variants_and_explicit_columns() -> None:
    found = resolve(ImportKind.completions, HEADERS, {})
    assert found == {"learner_id": 0, "course_id": 1, "completion_date": 2, "score": 3}
    # An explicit header wins over a recognised one and is not taken twice.
    explicit = resolve(
        ImportKind.completions,
        ["Login", "User ID", "Item", "When"],
        {"learner_id": "user id", "course_id": "Item", "completion_date": "When"},
    )
    assert explicit["learner_id"] == 1
    with pytest.raises(ColumnError) as missing:
        resolve(ImportKind.completions, ["Email"], {"course_id": "Nope"})
    problems = {p["field"] for p in missing.value.problems}
    assert problems == {"columns.course_id", "completion_date"}


def test_dates_scores_and_the_stable_event_id() -> None:
    columns = resolve(ImportKind.completions, HEADERS, {})
    options = Options(
        date_format="%m/%d/%Y %H:%M", timezone="America/New_York", score_scale=Decimal(1)
    )
    parsed = completion(Row(2, ["E1", "C1", "03/04/2026 09:30", "85%"]), columns, HEADERS, options)
    assert parsed.item.occurred_at == datetime(2026, 3, 4, 14, 30, tzinfo=UTC)
    assert parsed.item.score == 0.85
    assert parsed.item.event_id == event_id("E1", "C1", datetime(2026, 3, 4, 14, 30, tzinfo=UTC))
    again = completion(Row(9, ["E1", "C1", "03/04/2026 09:30", "0.85"]), columns, HEADERS, options)
    # The same completion on another line of another file has the same id.
    assert again.item.event_id == parsed.item.event_id
    later = completion(Row(3, ["E1", "C1", "03/04/2026 09:31", None]), columns, HEADERS, options)
    assert later.item.event_id != parsed.item.event_id
    with pytest.raises(RowErrors) as bad:
        completion(Row(4, ["E1", "C1", "2026-03-04", "1.5"]), columns, HEADERS, options)
    assert [(e["column"], e["field"]) for e in bad.value.errors] == [
        ("Date Completed", "completion_date"),
        ("Score", "score"),
    ]


def _old_event_id(learner: str, course: str, at: datetime) -> str:
    """The id every earlier version gave an imported row (pinned: re-uploads must replay)."""
    key = "\x1f".join((learner, course, at.astimezone(UTC).isoformat()))
    return "imp_" + hashlib.sha256(key.encode()).hexdigest()[:40]


def test_paying_rows_keep_their_ids_and_other_outcomes_are_other_events() -> None:
    at = datetime(2026, 11, 27, tzinfo=UTC)
    assert event_id("E3", "SEC-2", at, Outcome.completed) == _old_event_id("E3", "SEC-2", at)
    assert event_id("E3", "SEC-2", at, Outcome.passed) == _old_event_id("E3", "SEC-2", at)
    others = {
        event_id("E3", "SEC-2", at, outcome)
        for outcome in (Outcome.failed, Outcome.in_progress, Outcome.enrolled)
    }
    assert len(others) == 3
    assert _old_event_id("E3", "SEC-2", at) not in others
    # No completion date: keyed by the enrolment date, or by nothing more; never by a time
    # the import supplies.
    no_date = event_id("E3", "SEC-2", None, Outcome.in_progress)
    assert no_date == event_id("E3", "SEC-2", None, Outcome.in_progress)
    assert no_date != event_id("E3", "SEC-2", None, Outcome.in_progress, enrolled_at=at)
    assert event_id("E3", "SEC-2", at, Outcome.in_progress) != event_id(
        "E3", "SEC-2", None, Outcome.in_progress, enrolled_at=at
    )


ENROLMENTS: list[str | None] = ["User ID", "Course Code", "Status", "Enrolled On", "Completed On"]


def test_rows_without_a_completion_date() -> None:
    columns = resolve(ImportKind.completions, ENROLMENTS, {})
    assert columns["enrollment_date"] == 3
    imported = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
    options = Options(imported_at=imported)
    started = completion(
        Row(2, ["E7", "C1", "In Progress", "2026-11-26", None]), columns, ENROLMENTS, options
    )
    assert started.item.outcome == Outcome.in_progress
    assert started.item.occurred_at == datetime(2026, 11, 26, tzinfo=UTC)
    assert started.time_field == "enrollment_date"
    assert started.item.event_id == event_id(
        "E7", "C1", None, Outcome.in_progress, enrolled_at=datetime(2026, 11, 26, tzinfo=UTC)
    )
    waiting = completion(
        Row(3, ["E8", "C1", "Not Started", None, None]), columns, ENROLMENTS, options
    )
    assert waiting.item.outcome == Outcome.enrolled
    assert waiting.item.occurred_at == imported
    assert waiting.time_field is None
    later = Options(imported_at=imported + timedelta(days=7))
    again = completion(Row(3, ["E8", "C1", "Not Started", None, None]), columns, ENROLMENTS, later)
    assert again.item.event_id == waiting.item.event_id
    for status in ("Completed", "Passed", "Failed"):
        with pytest.raises(RowErrors) as bad:
            completion(
                Row(4, ["E9", "C1", status, "2026-11-20", None]), columns, ENROLMENTS, options
            )
        assert bad.value.errors == [
            {
                "column": "Completed On",
                "field": "completion_date",
                "reason": f"empty: a {status.lower()} row needs its completion date",
            }
        ]
    with pytest.raises(RowErrors) as bad_enrolment:
        completion(
            Row(5, ["E9", "C1", "Enrolled", "26/11/2026", None]), columns, ENROLMENTS, options
        )
    assert [(e["column"], e["field"]) for e in bad_enrolment.value.errors] == [
        ("Enrolled On", "enrollment_date")
    ]


SCORES: list[str | None] = ["User ID", "Course Code", "Completion Date", "Score", "Amount"]


@pytest.mark.parametrize(
    ("options", "score", "amount", "expected"),
    [
        # A ;-delimited CSV (Excel in comma-decimal locales): either mark, unless ambiguous.
        (Options(delimiter=";"), "85,5", "12,50", (0.855, "12.50")),
        (Options(delimiter=";"), "85.5", "1.250,00", (0.855, "1250.00")),
        (Options(delimiter=";"), "0,875%", "1.250.000", (0.00875, "1250000")),
        (Options(delimiter=","), "85.5", "1,250.00", (0.855, "1250.00")),
        (Options(delimiter="\t", decimal_separator=","), "85,5", "1.250,5", (0.855, "1250.5")),
        (Options(delimiter=";", decimal_separator="."), "85.5", "1,250", (0.855, "1250")),
    ],
)
def test_decimal_marks(
    options: Options, score: str, amount: str, expected: tuple[float, str]
) -> None:
    columns = resolve(ImportKind.completions, SCORES, {})
    parsed = completion(Row(2, ["E1", "C1", "2026-11-26", score, amount]), columns, SCORES, options)
    assert (parsed.item.score, (parsed.override or {})["amount"]) == expected


@pytest.mark.parametrize(
    ("options", "score", "amount", "errors"),
    [
        (
            Options(delimiter=";"),
            "1,000",
            "1.250",
            [
                (
                    "Score",
                    "'1,000' is ambiguous: ',' may be the decimal mark or separate thousands; "
                    "set options.decimal_separator to '.' or ',' in the mapping",
                ),
                (
                    "Amount",
                    "'1.250' is ambiguous: '.' may be the decimal mark or separate thousands; "
                    "set options.decimal_separator to '.' or ',' in the mapping",
                ),
            ],
        ),
        (
            Options(delimiter=","),
            "85,5",
            "12,50",
            [
                (
                    "Score",
                    "'85,5' is not a number with '.' as the decimal mark; if the file writes "
                    "decimals with a comma, set options.decimal_separator to ','",
                ),
                (
                    "Amount",
                    "'12,50' is not a number with '.' as the decimal mark; if the file writes "
                    "decimals with a comma, set options.decimal_separator to ','",
                ),
            ],
        ),
        (
            Options(delimiter=";", decimal_separator=","),
            "85.5",
            "1,2,3",
            [
                (
                    "Score",
                    "'85.5' is not a number with ',' as the decimal mark; if the file writes "
                    "decimals with a point, set options.decimal_separator to '.'",
                ),
                ("Amount", "'1,2,3' is not a decimal amount such as \"25.00\""),
            ],
        ),
    ],
)
def test_numbers_that_read_two_ways_or_not_at_all_are_refused(
    options: Options, score: str, amount: str, errors: list[tuple[str, str]]
) -> None:
    columns = resolve(ImportKind.completions, SCORES, {})
    with pytest.raises(RowErrors) as bad:
        completion(Row(2, ["E1", "C1", "2026-11-26", score, amount]), columns, SCORES, options)
    assert [(e["column"], e["reason"]) for e in bad.value.errors] == errors


def test_xlsx_date_cells_and_serials_whatever_the_date_format() -> None:
    headers: list[str | None] = ["User ID", "Course Code", "Completion Date", "Score"]
    columns = resolve(ImportKind.completions, headers, {})
    options = Options(date_format="%d.%m.%Y", timezone="Europe/Berlin", decimal_separator=",")

    def parsed(when: object, score: object = 85.5) -> CompletionRow:
        values = ("E1", "C1", when, score)
        cells = [_cell(v) for v in values]
        return completion(Row(2, cells, values), columns, headers, options)

    berlin = ZoneInfo("Europe/Berlin")
    cell = parsed(_naive(2026, 11, 26, 14, 5))
    assert cell.item.occurred_at == datetime(2026, 11, 26, 14, 5, tzinfo=berlin)
    # A number cell is taken as it is, whatever the decimal mark of text.
    assert cell.item.score == 0.855
    assert parsed(date(2026, 11, 26)).item.occurred_at == datetime(2026, 11, 26, tzinfo=berlin)
    assert parsed(46352).item.occurred_at == datetime(2026, 11, 26, tzinfo=berlin)
    assert parsed(46352.5).item.occurred_at == datetime(2026, 11, 26, 12, tzinfo=berlin)
    # Text cells go through the format.
    assert parsed("26.11.2026", "85,5").item.occurred_at == datetime(2026, 11, 26, tzinfo=berlin)
    in_1904 = replace(options, epoch=CALENDAR_MAC_1904)
    values = ("E1", "C1", 44890, None)
    row = Row(2, [_cell(v) for v in values], values)
    at = completion(row, columns, headers, in_1904).item.occurred_at
    assert at == datetime(2026, 11, 26, tzinfo=berlin)
    for bad in (20261126, True, "2026-11-26T14:05:00"):
        with pytest.raises(RowErrors) as refused:
            parsed(bad)
        assert refused.value.errors[0]["column"] == "Completion Date"
    with pytest.raises(RowErrors) as out_of_range:
        parsed(20261126)
    assert out_of_range.value.errors[0]["reason"] == (
        "20261126 is a number but not an Excel date: out of the range of date serials"
    )


def test_roster_hire_dates_from_xlsx_cells_and_serials() -> None:
    headers: list[str | None] = ["Employee ID", "Status", "Hire Date"]
    columns = resolve(ImportKind.roster, headers, {})
    options = Options(date_format="%m/%d/%Y")
    for value in (_naive(2020, 1, 15), date(2020, 1, 15), 43845, "01/15/2020"):
        values = ("W1", "Active", value)
        row = Row(2, [_cell(v) for v in values], values)
        assert roster(row, columns, headers, options).hire_date == date(2020, 1, 15)


def _cell(value: object) -> str | None:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return None if value is None else str(value)


def test_repeated_headers_must_be_picked() -> None:
    headers: list[str | None] = ["User ID", "Course Code", "Date", "Date", "Notes", "Notes"]
    with pytest.raises(ColumnError) as found:
        resolve(ImportKind.completions, headers, {})
    assert found.value.problems == [
        {
            "field": "completion_date",
            "message": "the file has 2 columns 'Date' (columns 3 and 4): name one in the mapping "
            "as 'Date#1' or 'Date#2'",
        }
    ]
    with pytest.raises(ColumnError) as named:
        resolve(ImportKind.completions, headers, {"completion_date": "date"})
    assert named.value.problems == [
        {
            "field": "columns.completion_date",
            "message": "the file has 2 columns 'date' (columns 3 and 4): name one in the mapping "
            "as 'date#1' or 'date#2'",
        }
    ]
    with pytest.raises(ColumnError) as third:
        resolve(ImportKind.completions, headers, {"completion_date": "Date#3"})
    assert third.value.problems == [
        {
            "field": "columns.completion_date",
            "message": "the file has 2 columns 'Date', so 'Date#3' names none",
        }
    ]
    picked = resolve(ImportKind.completions, headers, {"completion_date": "Date #2"})
    # The repeated Notes columns serve no field and do no harm.
    assert picked == {"learner_id": 0, "course_id": 1, "completion_date": 3}
    assert labels(headers) == ["User ID", "Course Code", "Date#1", "Date#2", "Notes#1", "Notes#2"]
    # A header that really ends in #2 is still found by its name.
    literal = resolve(
        ImportKind.completions,
        ["User ID", "Course Code", "Attempt #2"],
        {"completion_date": "Attempt #2"},
    )
    assert literal["completion_date"] == 2


def _naive(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A date-time as an XLSX cell holds it: without a zone."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC).replace(tzinfo=None)
