"""Where SQLite keeps what it writes besides the tables: the write-ahead log is copied into the
database file by Laurel's own thread, not inside a writer's commit (laurel.sqlite_checkpoints),
and temporary files are in memory for writing transactions only (laurel.db)."""

from __future__ import annotations

import gc
import shutil
import sqlite3
import threading
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from laurel import migrate
from laurel.db import Database
from laurel.sqlite_checkpoints import JOURNAL_SIZE_LIMIT
from tests.concurrency.processes import eventually


def _thread(database: Database) -> threading.Thread:
    assert database.checkpointer is not None
    thread = database.checkpointer.thread
    assert thread is not None
    return thread


def _done(database: Database) -> int:
    assert database.checkpointer is not None
    return database.checkpointer.done.value


def _write(database: Database, value: str) -> None:
    with database.session() as session:
        session.execute(text("CREATE TABLE IF NOT EXISTS notes (value TEXT)"))
        session.execute(text("INSERT INTO notes VALUES (:v)"), {"v": value})


def _file_alone_holds(path: Path, copy: Path, value: str) -> bool:
    """Whether the database file by itself, without its log, already holds the row."""
    shutil.copy(path, copy)
    with sqlite3.connect(copy) as connection:
        try:
            rows = connection.execute("SELECT value FROM notes").fetchall()
        except sqlite3.OperationalError:  # the table itself is not in the file yet
            return False
    return (value,) in rows


def test_commits_do_not_checkpoint_and_the_thread_does(tmp_path: Path) -> None:
    path = tmp_path / "laurel.db"
    database = Database(f"sqlite:///{path}")
    try:
        with database.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
            limit = connection.exec_driver_sql("PRAGMA journal_size_limit").scalar()
            assert limit == JOURNAL_SIZE_LIMIT
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        _write(database, "first")
        eventually(
            lambda: _file_alone_holds(path, tmp_path / "copy.db", "first"),
            timeout=10,
            what="the first row in the file",
        )
        before = _done(database)
        for n in range(5):
            _write(database, f"more-{n}")
        eventually(
            lambda: _file_alone_holds(path, tmp_path / "copy2.db", "more-4"),
            timeout=10,
            what="the last row in the file",
        )
        # Commits in quick succession share checkpoints rather than paying one each.
        assert 1 <= _done(database) - before <= 5
        thread = _thread(database)
    finally:
        database.dispose()
    assert not thread.is_alive()


def test_dispose_leaves_everything_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "laurel.db"
    database = Database(f"sqlite:///{path}")
    migrate.upgrade(database)
    _write(database, "kept")
    database.dispose()
    assert _file_alone_holds(path, tmp_path / "copy.db", "kept")


def test_a_dropped_database_stops_its_thread(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'laurel.db'}")
    _write(database, "x")
    thread = _thread(database)
    assert thread.is_alive()
    database.engine.dispose()
    del database
    gc.collect()
    eventually(lambda: not thread.is_alive(), timeout=10, what="the thread to stop")


def test_writers_keep_temporary_files_in_memory_and_readers_on_disk(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'laurel.db'}")

    def temp_store(session: Session) -> int:
        return int(session.execute(text("PRAGMA temp_store")).scalar_one())

    try:
        # Alternating on the same pooled connection: each transaction sets its own.
        for _ in range(2):
            with database.session() as session:
                assert temp_store(session) == 2  # MEMORY: statement journals never hit the disk
            with database.read_session() as session:
                assert temp_store(session) == 0  # SQLite's default: large sorts go to files
    finally:
        database.dispose()


def test_writers_take_the_connection_the_last_writer_used(tmp_path: Path) -> None:
    """SQLite drops a connection's whole page cache when another connection wrote since its
    last transaction: a writer on the most recently used connection finds its pages cached."""
    database = Database(f"sqlite:///{tmp_path / 'laurel.db'}")
    try:
        with database.read_session() as first, database.read_session() as second:
            first.execute(text("SELECT 1"))
            second.execute(text("SELECT 1"))  # two connections wait in the pool now
        used = []
        for n in range(3):
            with database.session() as session:
                session.execute(text("CREATE TABLE IF NOT EXISTS notes (value TEXT)"))
                session.execute(text("INSERT INTO notes VALUES (:v)"), {"v": str(n)})
                used.append(session.connection().connection.dbapi_connection)
        assert used[0] is used[1] is used[2]
    finally:
        database.dispose()
