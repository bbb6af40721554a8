"""SQLite's query-planner statistics, kept current by Laurel itself.

SQLite plans from ``sqlite_stat1``, which only ``ANALYZE`` fills; without it the planner guesses
that an equality on any index's first column finds a handful of rows, and chose, for instance,
to walk every reward in a state rather than seek the ids it was given, or to walk every reward of
an organization for a dedupe check. Those guesses cost nothing on a new database and grow with
it, so the statistics are refreshed as tables grow: a table of at least ``MIN_ROWS`` rows that was
never analysed, or whose size changed by ``GROWTH`` times since, is analysed again, whole. (A
sampled analysis, ``PRAGMA analysis_limit``, was tried: from the first thousand entries of an
index it concluded that an organization holds a thousand rewards, and SQLite sorted all 68,000 of
them for each page of the rewards list, 750 ms, instead of walking the ids. A whole analysis took
61 ms for those 68,000 rewards and runs only when a table has doubled: each table in its own
short write transaction.)

It runs after ``laurel db upgrade``, when ``laurel serve`` starts, and every
``STATISTICS_INTERVAL_SECONDS`` in the worker. PostgreSQL keeps its own (autovacuum's analyse).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from laurel.db import Database

log = logging.getLogger(__name__)

MIN_ROWS = 1_000
"""Below this a table is read in a moment whatever the plan: left to the planner's defaults."""
GROWTH = 2.0
STATISTICS_INTERVAL_SECONDS = 600.0


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _recorded(connection: Connection) -> dict[str, int]:
    """Rows each table had when last analysed (the first number of its ``sqlite_stat1`` rows)."""
    present = connection.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'"
    ).first()
    if present is None:
        return {}
    rows: dict[str, int] = {}
    for table, stat in connection.exec_driver_sql("SELECT tbl, stat FROM sqlite_stat1"):
        first = str(stat or "").split(" ", 1)[0]
        if first.isdigit():
            rows[table] = max(rows.get(table, 0), int(first))
    return rows


def _size(connection: Connection, table: str, without_rowid: bool) -> int:
    """About how many rows ``table`` holds: its largest rowid (a seek; deletions make it an
    overestimate, which only delays a re-analysis), or a count for tables without rowids."""
    sql = (
        f"SELECT count(*) FROM {_quoted(table)}"  # noqa: S608 - a name read from sqlite_master
        if without_rowid
        else f"SELECT coalesce(max(rowid), 0) FROM {_quoted(table)}"  # noqa: S608 - as above
    )
    value: Any = connection.exec_driver_sql(sql).scalar()
    return int(value or 0)


def stale_tables(connection: Connection) -> list[str]:
    """The tables whose statistics are missing or out of date, by the rule in the docstring."""
    recorded = _recorded(connection)
    stale = []
    tables = connection.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' "
        "AND name NOT LIKE 'sqlite_%' ORDER BY name"
    ).all()
    for name, sql in tables:
        rows = _size(connection, name, "WITHOUT ROWID" in str(sql).upper())
        if rows < MIN_ROWS:
            continue
        was = recorded.get(name)
        if was is None or rows >= GROWTH * was or rows * GROWTH <= was:
            stale.append(name)
    return stale


def refresh(database: Database) -> list[str]:
    """Analyse the stale tables of an SQLite database; answers their names (none on
    PostgreSQL). The check reads in a read transaction; only a stale table takes the write
    lock, for its own analysis."""
    if not database.is_sqlite:
        return []
    with database.read_session() as session:
        stale = stale_tables(session.connection())
    if not stale:
        return []
    for table in stale:
        with database.session() as session:
            connection = session.connection()
            connection.exec_driver_sql("PRAGMA analysis_limit=0")  # whole: see the docstring
            connection.exec_driver_sql(f"ANALYZE {_quoted(table)}")
    log.info("analysed %d SQLite tables for the query planner: %s", len(stale), ", ".join(stale))
    return stale


def refresh_if_free(database: Database) -> list[str]:
    """``refresh`` for ``laurel serve`` and the worker: a file kept busy by another process past
    the busy timeout is logged and left with the statistics it has (only planning quality waits
    for the next pass); answers the tables analysed."""
    try:
        return refresh(database)
    except OperationalError:
        log.warning("SQLite statistics not refreshed: the file stayed busy", exc_info=True)
        return []
