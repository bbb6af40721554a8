"""Period labels computed by the database equal :func:`laurel.analytics.periods.label`."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta

from sqlalchemy import column, select, table
from sqlalchemy.dialects import sqlite

from laurel.analytics import periods

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
