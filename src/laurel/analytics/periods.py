"""Period labels and durations computed by the database, the same on SQLite and PostgreSQL.

The labels are those of :func:`label` (``2026``, ``2026-Q4``, ``2026-11``, ``2026-W48`` with ISO
weeks), so a report grouped in SQL reads exactly as one grouped in Python. Timestamps are stored
in UTC (naive text on SQLite, ``timestamptz`` on PostgreSQL); labels are taken in UTC.

SQLite stores ``YYYY-MM-DD HH:MM:SS.ffffff`` (always six digits). Its date functions read that
text as a julian day to the millisecond, rounding: ``unixepoch``, ``julianday``, ``strftime``'s
``%s`` and ``%w`` and any modifier (``date(x, '+3 days')``) see ``23:59:59.999500`` and
later as the next second, so of the next day, week, month or year. Every SQLite expression here
gives them the whole seconds only (:func:`_sqlite_whole`, the first 19 characters) and reads the
microseconds from the stored digits (:func:`_sqlite_fraction`). PostgreSQL is exact.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Integer, case, cast, extract, func, literal

PERIODS = ("all", "year", "quarter", "month", "week")
_PG_FORMATS = {
    "year": "YYYY",
    "quarter": 'YYYY-"Q"Q',
    "month": "YYYY-MM",
    "week": 'IYYY-"W"IW',
}


def label(when: datetime, period: str) -> str:
    """The label of ``when`` in Python (for single values and for checking the SQL)."""
    if period == "all":
        return "all"
    if period == "year":
        return f"{when.year:04d}"
    if period == "quarter":
        return f"{when.year:04d}-Q{(when.month - 1) // 3 + 1}"
    if period == "month":
        return f"{when.year:04d}-{when.month:02d}"
    year, week, _ = when.isocalendar()
    return f"{year:04d}-W{week:02d}"


# Days from 1970-01-01 are shifted by this many weeks' worth so that SQLite's integer division
# (which truncates towards zero) floors for any date after 1778 too.
_SHIFT_WEEKS = 10_000
_EPOCH_MONDAY = date(1969, 12, 29)  # 1970-01-01 was a Thursday: week 0 starts on this Monday


def _sqlite_whole(column: Any) -> Any:
    """SQLite: the whole seconds of a stored timestamp (``YYYY-MM-DD HH:MM:SS``, truncated), what
    its date functions must be given so that they do not round the fraction up."""
    return func.substr(column, 1, 19)


def _sqlite_fraction(column: Any) -> Any:
    """SQLite: the microseconds of a stored timestamp, as an integer (``0`` for text without
    a fraction)."""
    return cast(func.substr(column, 21, 6), Integer)


def sql_week_number(column: Any) -> Any:
    """SQLite: the number of the Monday-to-Sunday UTC week of a timestamp column, counted from
    the week of 1970-01-01. Plain integer arithmetic, about half the CPU of building the ISO
    label in SQL (``printf``/``date``/``strftime`` a row); :func:`week_label` names it."""
    # Of the whole seconds: unixepoch() of the full text rounds to the millisecond, so
    # 23:59:59.9995 on a Sunday would count in the next week.
    seconds = func.unixepoch(_sqlite_whole(column))
    shifted = (seconds + 86_400 * (7 * _SHIFT_WEEKS + 3)) // 86_400
    return shifted // 7 - _SHIFT_WEEKS


def week_label(number: int) -> str:
    """The ISO week label (``2026-W48``, as :func:`label`) of a :func:`sql_week_number`."""
    year, week, _ = (_EPOCH_MONDAY + timedelta(weeks=number)).isocalendar()
    return f"{year:04d}-W{week:02d}"


def sql_label(dialect: str, column: Any, period: str) -> Any:
    """The label of a timestamp column, as an SQL expression (on SQLite of its whole seconds:
    see the module's docstring)."""
    if period == "all":
        return literal("all")
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), _PG_FORMATS[period])
    whole = _sqlite_whole(column)
    if period == "year":
        return func.strftime("%Y", whole)
    if period == "month":
        return func.strftime("%Y-%m", whole)
    if period == "quarter":
        month = cast(func.strftime("%m", whole), Integer)
        return func.printf("%s-Q%d", func.strftime("%Y", whole), (month + 2) // 3)
    # ISO week: the week's Thursday decides its year; its day of the year gives the number.
    weekday = (cast(func.strftime("%w", whole), Integer) + 6) % 7  # Monday = 0
    thursday = func.date(whole, func.printf("%d days", 3 - weekday))
    number = (cast(func.strftime("%j", thursday), Integer) - 1) // 7 + 1
    return func.printf("%s-W%02d", func.strftime("%Y", thursday), number)


def sql_seconds(dialect: str, start: Any, end: Any) -> Any:
    """Seconds from ``start`` to ``end`` to the microsecond, as an SQL expression.

    On SQLite whole seconds come from ``unixepoch`` of the truncated text and the microseconds
    from the stored digits: ``julianday`` or ``unixepoch`` of the full text would round them.
    """
    if dialect == "postgresql":
        return extract("epoch", end - start)
    whole = func.unixepoch(_sqlite_whole(end)) - func.unixepoch(_sqlite_whole(start))
    micro = _sqlite_fraction(end) - _sqlite_fraction(start)
    return whole + micro / 1_000_000.0


def _sqlite_micros(start: Any, end: Any) -> Any:
    """SQLite: microseconds from ``start`` to ``end`` in integers (whole seconds of the
    truncated text, the stored six digits added), shared by :func:`sql_millis` and
    :func:`sql_whole_days`."""
    return (
        (func.unixepoch(_sqlite_whole(end)) - func.unixepoch(_sqlite_whole(start))) * 1_000_000
        + _sqlite_fraction(end)
        - _sqlite_fraction(start)
    )


def sql_millis(dialect: str, start: Any, end: Any) -> Any:
    """Whole milliseconds from ``start`` to ``end``, rounded half away from zero, as an integer
    SQL expression.

    Exact on both databases (PostgreSQL's epoch of an interval is a ``numeric``; on SQLite the
    microseconds are counted in integers: ``round`` of a float second would round 0.0005
    either way). The latency rollup's triggers (migrations 0028 and 0029) compute the same.
    """
    if dialect == "postgresql":
        return cast(func.round(extract("epoch", end - start) * 1000), BigInteger)
    micros = _sqlite_micros(start, end)
    return case((micros >= 0, (micros + 500) // 1000), else_=-((500 - micros) // 1000))


def sql_days(dialect: str, start: Any, end: Any) -> Any:
    """Days from ``start`` to ``end`` (fractional, never negative), as an SQL expression."""
    days = sql_seconds(dialect, start, end) / 86_400.0
    if dialect == "postgresql":
        return func.greatest(0.0, days)
    return func.max(0.0, days)


def sql_whole_days(dialect: str, start: Any, end: Any) -> Any:
    """Whole days from ``start`` to ``end`` (``floor``, never negative), as an SQL expression.

    Exact: PostgreSQL's epoch of an interval is a ``numeric``; on SQLite the microseconds are
    counted in integers. The rollups' triggers (migrations 0024 and 0029) compute the same.
    """
    if dialect == "postgresql":
        whole = func.floor(extract("epoch", end - start) / 86_400)
        return cast(func.greatest(0, whole), Integer)
    micros = _sqlite_micros(start, end)
    return func.max(0, micros // 86_400_000_000)
