"""Period labels computed by the database equal :func:`laurel.analytics.periods.label`."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, column, select, table
from sqlalchemy.dialects import sqlite

from laurel.analytics import periods
from laurel.db import Database
from laurel.kit.orm import UTCDateTime

# ISO years that start early or late, a year with week 53, the ends of days and weeks.
EDGES = [
    datetime(2020, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(2021, 1, 3, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(2021, 1, 4, tzinfo=UTC),
    datetime(2024, 12, 29, 12, tzinfo=UTC),
    datetime(2024, 12, 30, tzinfo=UTC),
    datetime(2025, 12, 28, 23, 59, tzinfo=UTC),
    datetime(2025, 12, 29, tzinfo=UTC),
    datetime(2026, 1, 1, tzinfo=UTC),
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(1969, 12, 28, 23, 59, 59, tzinfo=UTC),
    datetime(1900, 1, 1, tzinfo=UTC),
]


def test_sqlite_week_numbers_name_the_iso_week_of_each_time() -> None:
    rng = random.Random(11)
    start = datetime(1960, 1, 1, tzinfo=UTC)
    when = [
        *EDGES,
        *(start + timedelta(seconds=rng.randrange(100 * 365 * 86_400)) for _ in range(5_000)),
    ]
    stored = table("t", column("at"))
    statement = select(periods.sql_week_number(stored.c.at)).compile(
        dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}
    )
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (at TEXT)")
    # The text SQLAlchemy stores for a UTC datetime on SQLite (naive UTC, six digits).
    db.executemany(
        "INSERT INTO t VALUES (?)", [(w.strftime("%Y-%m-%d %H:%M:%S.%f"),) for w in when]
    )
    got = [periods.week_label(n) for (n,) in db.execute(str(statement))]
    assert got == [periods.label(w, "week") for w in when]


# SQLite reads a timestamp to the millisecond, rounding: from .999500 on, the full text is the
# next second, so of the next day, ISO week (Sundays), month, quarter and year.
FRACTIONS = (0, 499, 999_499, 999_500, 999_600, 999_999)
LAST_SECONDS = [
    datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC),  # a month's last second
    datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC),  # a quarter's
    datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC),  # a year's (a Wednesday)
    datetime(2026, 11, 29, 23, 59, 59, tzinfo=UTC),  # a Sunday's
    datetime(2024, 12, 29, 23, 59, 59, tzinfo=UTC),  # the last Sunday of ISO year 2024
    datetime(2021, 1, 3, 23, 59, 59, tzinfo=UTC),  # the last Sunday of ISO year 2020 (W53)
]
ROUNDED = [when + timedelta(microseconds=f) for when in LAST_SECONDS for f in FRACTIONS]


def _spans() -> list[tuple[datetime, datetime]]:
    """Start and end fractions on either side of the rounding point, over less than a second,
    a few seconds and about a day, forwards and backwards."""
    base = datetime(2026, 11, 30, 10, tzinfo=UTC)
    spans = []
    for start_fraction in FRACTIONS:
        for end_fraction in FRACTIONS:
            for seconds in (0, 1, 3, 86_399, 86_400):
                start = base + timedelta(microseconds=start_fraction)
                end = base + timedelta(seconds=seconds, microseconds=end_fraction)
                spans += [(start, end), (end, start)]
    return spans


def _micros(start: datetime, end: datetime) -> int:
    return (end - start) // timedelta(microseconds=1)


def test_labels_of_times_just_before_a_period_ends(database: Database) -> None:
    at = bindparam("at", type_=UTCDateTime())
    with database.session() as session:
        for period in periods.PERIODS:
            expression = periods.sql_label(database.dialect, at, period)
            got = [session.execute(select(expression), {"at": w}).scalar_one() for w in ROUNDED]
            assert got == [periods.label(w, period) for w in ROUNDED], period
        if database.dialect == "sqlite":
            numbered = periods.sql_week_number(at)
            got = [
                periods.week_label(session.execute(select(numbered), {"at": w}).scalar_one())
                for w in ROUNDED
            ]
            assert got == [periods.label(w, "week") for w in ROUNDED]


def test_durations_whose_ends_straddle_the_rounding_point(database: Database) -> None:
    """Exact to the microsecond: milliseconds rounded half away from zero, whole days floored
    (never negative), seconds as the microseconds divide."""
    start, end = bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime())
    dialect = database.dialect
    statement = select(
        periods.sql_millis(dialect, start, end),
        periods.sql_whole_days(dialect, start, end),
        periods.sql_seconds(dialect, start, end),
    )
    spans = _spans()
    with database.session() as session:
        got = [session.execute(statement, {"start": s, "end": e}).one() for s, e in spans]
    for (s, e), (millis, days, seconds) in zip(spans, got, strict=True):
        micros = _micros(s, e)
        half_away = (abs(micros) + 500) // 1000
        assert millis == (half_away if micros >= 0 else -half_away), (s, e)
        assert days == max(0, micros // 86_400_000_000), (s, e)
        assert round(float(seconds) * 1_000_000) == micros, (s, e)
