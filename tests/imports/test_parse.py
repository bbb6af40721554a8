"""Header detection and row parsing, without a database."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from laurel.imports.columns import ColumnError, resolve
from laurel.imports.models import ImportKind
from laurel.imports.parse import Options, RowErrors, completion, event_id
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
