"""Engines, sessions and the unit of work.

SQLite (the embedded default) runs in WAL mode and every transaction starts with
``BEGIN IMMEDIATE``: writers queue on the database lock up front instead of failing later with
"database is locked" when a read transaction tries to upgrade. Inside one process a lock orders
writers before they reach SQLite, which is far cheaper than SQLite's sleep-and-retry busy
handler. PostgreSQL runs at READ COMMITTED; rows that two processes may move are claimed with
``FOR UPDATE SKIP LOCKED`` or guarded UPDATEs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from laurel.kit.after_commits import AfterCommits
from laurel.kit.crypto import RING, KeyRing, ring_from_settings
from laurel.pg_statistics import StatisticsKeeper
from laurel.sqlite_checkpoints import JOURNAL_SIZE_LIMIT, Checkpointer

log = logging.getLogger("laurel.db")
T = TypeVar("T")

READONLY = "laurel.readonly"


class ReadOnlySessionError(RuntimeError):
    """A write was attempted in a read-only unit of work; it would have been lost."""


@event.listens_for(Session, "before_flush")
def _refuse_flush(session: Session, _context: Any, _instances: Any) -> None:
    if session.info.get(READONLY) and (session.new or session.dirty or session.deleted):
        raise ReadOnlySessionError("this unit of work is read-only")


@event.listens_for(Session, "do_orm_execute")
def _refuse_dml(state: ORMExecuteState) -> None:
    if state.session.info.get(READONLY) and (state.is_insert or state.is_update or state.is_delete):
        raise ReadOnlySessionError("this unit of work is read-only")


# PostgreSQL's deadlock_detected and serialization_failure: the server rolled the whole
# transaction back, so running the unit of work again from the start is safe.
_CONFLICT_SQLSTATES = frozenset({"40P01", "40001"})


CONFLICT_ATTEMPTS = 3


def conflicted(exc: BaseException) -> bool:
    """Whether ``exc`` is a transaction the database aborted for colliding with another one
    (two writers taking the same rows in opposite orders), which succeeds when run again."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in _CONFLICT_SQLSTATES


def retry_conflicts(unit: Callable[[], T], *, what: str, attempts: int = CONFLICT_ATTEMPTS) -> T:
    """Run ``unit`` (a whole unit of work, its own transaction) again when the database
    aborted it as :func:`conflicted`: nothing of it was kept. Other errors, and the last
    attempt's, go to the caller."""
    for attempt in range(1, attempts + 1):
        try:
            return unit()
        except Exception as exc:
            if attempt == attempts or not conflicted(exc):
                raise
            log.warning("%s collided with another writer (%s); running it again", what, exc)
    raise AssertionError("unreachable: the last attempt returns or raises")


def normalize_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use the psycopg 3 driver for them."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


class Database:
    """Owns the engine and the session factory; created once at start-up, never at import."""

    def __init__(self, url: str, key_ring: KeyRing | None = None) -> None:
        # Every mapper must be known before the first query, whichever command runs.
        import laurel.models  # noqa: F401, PLC0415

        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self._write_lock = threading.RLock() if self.is_sqlite else None
        self._after_commit_hooks: list[Callable[[Session], None]] = []
        self.engine = _create_engine(self.url)
        self.checkpointer = Checkpointer(str(self.engine.url.database)) if self.is_sqlite else None
        """Copies the write-ahead log into the SQLite file off the writers' path (else None)."""
        self.statistics = None if self.is_sqlite else StatisticsKeeper(self.url)
        """Analyses PostgreSQL tables that grew past their statistics (else None)."""
        self._after_commits: tuple[AfterCommits, ...] = tuple(
            t for t in (self.checkpointer, self.statistics) if t is not None
        )
        self._key_ring = key_ring
        # Every session carries the ring (services that encrypt find it there), built from
        # the settings on first use unless the application hands its own.
        self.sessionmaker = sessionmaker(
            self.engine, expire_on_commit=False, info={RING: self._ring}
        )

    def _ring(self) -> KeyRing:
        if self._key_ring is None:
            from laurel.config import get_settings  # noqa: PLC0415

            self._key_ring = ring_from_settings(get_settings())
        return self._key_ring

    @property
    def key_ring(self) -> KeyRing:
        return self._ring()

    @key_ring.setter
    def key_ring(self, ring: KeyRing) -> None:
        self._key_ring = ring

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def on_commit(self, hook: Callable[[Session], None]) -> None:
        """Run ``hook(session)`` after each successful commit (used to wake workers)."""
        self._after_commit_hooks.append(hook)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One unit of work: commits once at the end, rolls back on any error."""
        lock = self._write_lock
        if lock is not None:
            lock.acquire()
        try:
            with self.sessionmaker() as session:
                try:
                    yield session
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise
                for thread in self._after_commits:
                    thread.committed()
                for hook in self._after_commit_hooks:
                    hook(session)
        finally:
            if lock is not None:
                lock.release()

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A unit of work that only reads: never takes the write lock, never commits.

        On SQLite it runs in a deferred transaction, so in WAL mode reads proceed while a
        writer works instead of queueing behind it.
        """
        with self.sessionmaker() as session:
            session.info[READONLY] = True
            if self.is_sqlite:
                session.connection(execution_options={"laurel_readonly": True})
            try:
                yield session
            finally:
                session.rollback()

    def dispose(self) -> None:
        for thread in self._after_commits:
            thread.stop()
        self.engine.dispose()


def _create_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        parsed = make_url(url)
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30, "isolation_level": None},
            pool_size=8,
            max_overflow=8,
            pool_use_lifo=True,
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode is durable against process crashes; only an OS crash can lose
        # the last transactions, never corrupt the file.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Checkpoints run on the Database's own thread (laurel.sqlite_checkpoints), and the
        # writer that restarts the log after one is the one that truncates it.
        cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        readonly = conn.get_execution_options().get("laurel_readonly")
        _temp_store(conn, _TEMP_FILES if readonly else _TEMP_MEMORY)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


# Where SQLite keeps its temporary files, chosen per transaction (it cannot change inside one).
# Writing transactions keep them in memory: their only sizeable one is the statement journal
# SQLite opens for every statement into a table with triggers (rewards, completion events),
# which once it first outgrew 64 KiB became a real file written page by page for every later
# statement (about 18 write calls a statement, 45 µs). Reading transactions keep SQLite's
# default (a file): the dashboards' large sorts and groupings stay out of the process's memory.
_TEMP_MEMORY = 2
_TEMP_FILES = 0
_TEMP_STORE = "laurel.temp_store"


def _temp_store(conn: Any, mode: int) -> None:
    info = conn.connection.info  # the pooled connection's own record: follows the connection
    if info.get(_TEMP_STORE) != mode:
        conn.exec_driver_sql(f"PRAGMA temp_store = {mode}")
        info[_TEMP_STORE] = mode
