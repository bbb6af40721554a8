"""Laurel analyses young PostgreSQL tables as they grow (pg_statistics), without waiting for
autovacuum's next round: the planner's guesses about an unanalysed table cost the intake
milliseconds per statement."""

from __future__ import annotations

import gc
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from laurel import pg_statistics
from laurel.db import Database
from tests.concurrency.processes import eventually
from tests.conftest import KINDS

pytestmark = pytest.mark.skipif("postgresql" not in KINDS, reason="PostgreSQL only")


@pytest.fixture
def pg(pg_session_url: str) -> Iterator[tuple[Database, str]]:
    """A Database on the test server and a scratch table of its own, dropped afterwards."""
    database = Database(pg_session_url)
    table = f"stats_probe_{uuid.uuid4().hex[:12]}"
    with database.engine.begin() as connection:
        connection.execute(text(f"CREATE TABLE {table} (n integer NOT NULL)"))
    try:
        yield database, table
    finally:
        database.dispose()
        cleaner = Database(pg_session_url)
        with cleaner.engine.begin() as connection:
            connection.execute(text(f"DROP TABLE IF EXISTS {table}"))
        cleaner.dispose()


def _add(database: Database, table: str, count: int) -> None:
    with database.session() as session:
        session.execute(text(f"INSERT INTO {table} SELECT generate_series(1, :n)"), {"n": count})
        # Report this backend's counters when it goes idle rather than up to ten seconds later
        # (PostgreSQL 15+): the keeper waits for them just the same, the test need not.
        if int(session.execute(text("SHOW server_version_num")).scalar_one()) >= 150000:
            session.execute(text("SELECT pg_stat_force_next_flush()"))


def _stale(database: Database) -> list[str]:
    with database.engine.connect() as connection:
        return pg_statistics.stale_tables(connection)


def _counted(database: Database, table: str) -> int:
    """The live rows PostgreSQL's counters show (each backend reports them after commits)."""
    with database.engine.connect() as connection:
        value = connection.execute(
            text("SELECT n_live_tup FROM pg_stat_user_tables WHERE relname = :t"), {"t": table}
        ).scalar()
    return int(value or 0)


def _analysed_rows(database: Database, table: str) -> float:
    """The rows the planner believes the table holds (set by ANALYZE; -1 before any)."""
    with database.engine.connect() as connection:
        value = connection.execute(
            text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table}
        ).scalar()
    return float(value if value is not None else -1)


def test_a_young_table_is_analysed_as_it_grows(pg: tuple[Database, str]) -> None:
    database, table = pg
    keeper = database.statistics
    assert keeper is not None

    _add(database, table, 100)
    eventually(lambda: _counted(database, table) == 100, timeout=15, what="100 rows counted")
    # Small tables are left to the planner's defaults.
    assert table not in _stale(database)

    _add(database, table, pg_statistics.MIN_ROWS)
    # The commit wakes the keeper; it analyses once the counters show the rows.
    eventually(lambda: table in keeper.analysed, timeout=15, what="the first analysis")
    assert _analysed_rows(database, table) == 100 + pg_statistics.MIN_ROWS
    assert table not in _stale(database)

    # Grown by a third: the statistics still describe it.
    _add(database, table, 200)
    eventually(lambda: _counted(database, table) == 800, timeout=15, what="800 rows counted")
    assert table not in _stale(database)
    # Doubled since the analysis: analysed again.
    _add(database, table, 700)
    eventually(lambda: keeper.analysed.count(table) == 2, timeout=15, what="the second analysis")
    assert _analysed_rows(database, table) == 1_500


def test_dispose_and_drop_stop_the_thread(pg: tuple[Database, str], pg_session_url: str) -> None:
    database, table = pg
    _add(database, table, 1)
    keeper = database.statistics
    assert keeper is not None
    assert keeper.thread is not None
    thread = keeper.thread
    assert thread.is_alive()
    database.dispose()
    assert not thread.is_alive()

    dropped = Database(pg_session_url)
    _add(dropped, table, 1)
    assert dropped.statistics is not None
    assert dropped.statistics.thread is not None
    thread = dropped.statistics.thread
    dropped.engine.dispose()
    del dropped
    gc.collect()
    eventually(lambda: not thread.is_alive(), timeout=15, what="the thread to stop")


def test_tables_the_role_cannot_analyse_are_left_alone(
    pg: tuple[Database, str], pg_session_url: str
) -> None:
    """ANALYZE by a role that does not own the table only warns and skips: the keeper would try
    it again every second, so such tables are not candidates at all."""
    database, table = pg
    if "//postgres@" not in pg_session_url:
        pytest.skip("needs the test server's superuser, postgres, to make a role")
    keeper = database.statistics
    assert keeper is not None
    _add(database, table, pg_statistics.MIN_ROWS * 2)
    role = f"laurel_probe_{uuid.uuid4().hex[:8]}"
    with database.engine.begin() as connection:
        connection.execute(text(f"CREATE ROLE {role} LOGIN"))
        connection.execute(text(f"GRANT SELECT ON {table} TO {role}"))
    other = Database(pg_session_url.replace("//postgres@", f"//{role}@", 1))
    try:
        # The owner's keeper takes it (or is about to); the other role never sees it.
        eventually(
            lambda: table in keeper.analysed or table in _stale(database),
            timeout=15,
            what="the owner to see the table",
        )
        assert table not in _stale(other)
    finally:
        other.dispose()
        with database.engine.begin() as connection:
            connection.execute(text(f"REVOKE ALL ON {table} FROM {role}"))
            connection.execute(text(f"DROP ROLE {role}"))
