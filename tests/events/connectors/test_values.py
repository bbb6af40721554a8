"""How connectors read ids and times out of payloads (``laurel.events.connectors.base``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from laurel.events.connectors.base import parse_time, text

BERLIN_WINTER = timezone(timedelta(hours=1))


@pytest.mark.parametrize(
    ("value", "read"),
    [
        (" 42 ", "42"),
        (42, "42"),
        (42.0, "42"),
        ("", None),
        (None, None),
        (True, None),
        # An object or a list where an id belongs is missing, not the id "{'Id': 7}".
        ({"Id": 7}, None),
        ([7], None),
    ],
)
def test_ids_are_single_values(value: Any, read: str | None) -> None:
    assert text(value) == read


@pytest.mark.parametrize(
    ("value", "read"),
    [
        ("2026-06-05T12:30:00Z", datetime(2026, 6, 5, 12, 30, tzinfo=UTC)),
        ("2026-06-05T14:30:00+02:00", datetime(2026, 6, 5, 12, 30, tzinfo=UTC)),
        ("2026-06-05 12:30:00", datetime(2026, 6, 5, 12, 30, tzinfo=UTC)),
        ("20260605T123000Z", datetime(2026, 6, 5, 12, 30, tzinfo=UTC)),
        (1780662600, datetime(2026, 6, 5, 12, 30, tzinfo=UTC)),
        ("1780662600", datetime(2026, 6, 5, 12, 30, tzinfo=UTC)),
        (1780662600000, datetime(2026, 6, 5, 12, 30, tzinfo=UTC)),
        # ISO 8601's basic date: as Unix seconds it would be 23 August 1970.
        ("20260605", datetime(2026, 6, 5, tzinfo=UTC)),
        ("20261345", None),
        # Microsoft's JSON date, with or without the writer's offset (the instant is UTC).
        ("/Date(1780662600000)/", datetime(2026, 6, 5, 12, 30, tzinfo=UTC)),
        ("/Date(1780662600000+0200)/", datetime(2026, 6, 5, 12, 30, tzinfo=UTC)),
        ("/Date(1780662600000-0500)/", datetime(2026, 6, 5, 12, 30, tzinfo=UTC)),
        ("/Date(x)/", None),
        ("yesterday", None),
        ({"at": 1}, None),
        (False, None),
    ],
)
def test_times_as_sources_write_them(value: Any, read: datetime | None) -> None:
    assert parse_time(value) == read


def test_a_basic_date_is_midnight_where_the_source_writes_local_times() -> None:
    assert parse_time("20260105", BERLIN_WINTER) == datetime(2026, 1, 4, 23, tzinfo=UTC)
