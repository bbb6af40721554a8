"""PostgreSQL's planner statistics for tables that are young and growing.

PostgreSQL plans from the statistics ``ANALYZE`` gathers; autovacuum gathers them once a table
has changed by 50 rows plus a tenth of its size, but looks only once a minute
(``autovacuum_naptime``). A new deployment's tables go from empty to thousands of rows inside
that minute, and so does a large import into a new database, and until the first analysis the
planner guesses: with no statistics it judged that an organization holds a handful of rewards and
answered the dedupe look-up of every completion by reading all of them (2.8 ms for a group of
four completions at 2,700 rewards, growing with the table) instead of probing the unique index
(0.04 ms once analysed); the reward transitions took longer too (1.3 ms a group, 0.8 ms after).

Here each ``Database`` on PostgreSQL checks, at most every ``CHECK_SECONDS`` while its
transactions commit, for tables of at least ``MIN_ROWS`` rows, owned by its role, that were
never analysed or have changed since their last analysis by at least half the rows they hold
now (a table that doubled by inserts), and analyses those on a thread and connection of its own
(``ANALYZE`` takes a lock that lets reads and writes go on). A growing table is thus analysed a
logarithmic number of times; past its youth autovacuum's tighter rule takes over. SQLite has its
own rule (:mod:`laurel.sqlite_statistics`).
"""

from __future__ import annotations

import logging
import threading
import time
from functools import partial

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from laurel.kit.after_commits import AfterCommits

log = logging.getLogger("laurel.db")

MIN_ROWS = 500
"""Below this a table is read in a moment whatever the plan."""
CHECK_SECONDS = 1.0
"""At most one look at the table counters this often (PostgreSQL updates them about as often)."""
WATCH_SECONDS = 12.0
"""How long after the last commit the counters are still looked at."""

# The counters are PostgreSQL's own (updated by each backend after its transactions); a table
# analysed while it was empty counts every row inserted since as a change, so it is caught too.
# Only tables the role may analyse (it owns them, or is a superuser): for any other ANALYZE only
# warns and skips, and the table would be tried again every second.
STALE_SQL = """
SELECT s.relname FROM pg_stat_user_tables AS s JOIN pg_class AS c ON c.oid = s.relid
WHERE s.schemaname = current_schema()
  AND pg_has_role(c.relowner, 'USAGE')
  AND n_live_tup >= %(min_rows)s
  AND (
    (last_analyze IS NULL AND last_autoanalyze IS NULL)
    OR 2 * n_mod_since_analyze >= n_live_tup
  )
ORDER BY s.relname
"""


class StatisticsKeeper(AfterCommits):
    """Analyses the stale tables of one PostgreSQL database, on a daemon thread, after commits."""

    def __init__(self, url: str, interval: float = CHECK_SECONDS) -> None:
        self.analysed: list[str] = []
        """Every table analysed so far, in order (for tests and logs)."""
        super().__init__("laurel-pg-statistics", partial(_run, url, interval, self.analysed))


def _run(
    url: str,
    interval: float,
    analysed: list[str],
    committed: threading.Event,
    stopping: threading.Event,
) -> None:
    # An engine of its own (one connection, open while it watches): the application's pool and
    # the listeners on its engine never see these statements.
    engine = create_engine(url, poolclass=NullPool)
    try:
        while not stopping.is_set():
            committed.wait()
            committed.clear()
            if not stopping.is_set():
                _watch(engine, interval, committed, stopping, analysed)
    finally:
        engine.dispose()


def _watch(
    engine: Engine,
    interval: float,
    committed: threading.Event,
    stopping: threading.Event,
    analysed: list[str],
) -> None:
    """Look every ``interval`` until ``WATCH_SECONDS`` after the last commit: a backend reports
    its counters after its transactions, but one that reported less than a second ago holds
    them back for up to ten seconds."""
    until = time.monotonic() + WATCH_SECONDS
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            while not stopping.is_set() and time.monotonic() < until:
                analysed.extend(refresh(connection))
                stopping.wait(interval)
                if committed.is_set():  # commits meanwhile are looked at together
                    committed.clear()
                    until = time.monotonic() + WATCH_SECONDS
    except SQLAlchemyError:
        log.warning("PostgreSQL statistics not refreshed this time", exc_info=True)


def stale_tables(connection: Connection) -> list[str]:
    rows = connection.exec_driver_sql(STALE_SQL, {"min_rows": MIN_ROWS}).scalars().all()
    return [str(name) for name in rows]


def refresh(connection: Connection) -> list[str]:
    """Analyse the stale tables now (``connection`` in autocommit); answers their names."""
    stale = stale_tables(connection)
    for table in stale:
        quoted = connection.dialect.identifier_preparer.quote(table)
        connection.exec_driver_sql(f"ANALYZE {quoted}")
    if stale:
        log.info(
            "analysed %d PostgreSQL tables for the query planner: %s", len(stale), ", ".join(stale)
        )
    return stale
