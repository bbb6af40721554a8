"""Small SQL helpers that must behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Column, Connection, Executable, Select, Table, Uuid, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from laurel.db import READONLY
from laurel.kit import session_writes
from laurel.kit.canonical import plain_json
from laurel.kit.orm import UTCDateTime


def read_rows(session: Session, statement: Any, params: dict[str, Any] | None = None) -> Any:
    """Run a Core SELECT of columns (never of ORM entities) in the session's transaction: the
    same SQL, values and rows as ``session.execute``, without its cost. Intake runs about ten
    such reads a unit of work, and for single statements SQLAlchemy's execution of each cost
    more than the database's work: on SQLite the statement runs on the driver itself
    (compiled once, its values converted by SQLAlchemy's own processors), on PostgreSQL as
    Core on the session's connection, past the ORM layer. What autoflush would write first is
    flushed first, so the read sees it, as through the session."""
    if session.autoflush:
        session.flush()  # nothing to do, cheaply, unless ORM objects are pending
    connection = session.connection()
    if connection.dialect.name == "sqlite" and isinstance(statement, Select):
        found = _sqlite_read(connection, statement, params or {})
        if found is not None:
            return found
    return connection.execute(statement, params)


DriverWatcher = Callable[[str, Sequence[Any]], None]
_DRIVER_WATCHERS: list[DriverWatcher] = []


def watch_driver(watcher: DriverWatcher) -> Callable[[], None]:
    """Call ``watcher(sql, parameters)`` for every statement :func:`driver_execute` sends
    (SQLAlchemy's ``before_cursor_execute`` never sees them); answers the function that
    stops it. For tests and tracing: nothing watches in normal running."""
    _DRIVER_WATCHERS.append(watcher)
    return lambda: _DRIVER_WATCHERS.remove(watcher)


def driver_execute(connection: Connection, sql: str, parameters: Sequence[Any]) -> sqlite3.Cursor:
    """``sql`` (already in the driver's form, ``?`` placeholders) on the sqlite3 connection
    under ``connection``, in its transaction: SQLAlchemy's execution of an already-rendered
    statement still cost several times SQLite's own work for the small statements of a unit
    of work."""
    for watcher in _DRIVER_WATCHERS:
        watcher(sql, tuple(parameters))
    driver = connection.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    return driver.execute(sql, parameters)


class Rows(list[tuple[Any, ...]]):
    """Rows read on SQLite's driver (:func:`read_rows`): plain tuples, with the few methods
    of SQLAlchemy's result that the callers use."""

    def all(self) -> list[tuple[Any, ...]]:
        return self

    def scalar(self) -> Any:
        return self[0][0] if self else None


@dataclass(frozen=True, slots=True)
class _ReadPlan:
    """A SELECT compiled once for SQLite's driver: its text (expanding IN lists still to
    render), the parameters in text order with their storage converters, and one converter
    per result column (the same processors SQLAlchemy applies)."""

    statement: Any  # kept alive: plans are found by its id
    sql: str
    order: tuple[str, ...]
    expanding: tuple[str, ...]  # the expanding IN lists, in text order
    binds: dict[str, Converter | None]
    defaults: dict[str, Any]
    results: tuple[Converter | None, ...]
    rendered: dict[tuple[int, ...], str]


_READ_PLANS: dict[int, _ReadPlan | None] = {}
_MOST_PLANS = 1024
_MOST_SHAPES = 256


def _read_plan(connection: Connection, statement: Select[Any]) -> _ReadPlan | None:
    key = id(statement)
    plan = _READ_PLANS.get(key)
    if plan is not None and plan.statement is statement:
        return plan
    if key in _READ_PLANS and plan is None:
        return None
    dialect = connection.dialect
    compiled = statement.compile(dialect=dialect)
    binds = compiled.binds
    order = tuple(compiled.positiontup or ())
    entries = compiled._result_columns
    built: _ReadPlan | None = None
    # Only what this module knows how to run: named or literal binds, expanding or not.
    if all(name in binds for name in order) and not compiled.literal_execute_params:
        built = _ReadPlan(
            statement=statement,
            sql=compiled.string,
            order=order,
            expanding=tuple(n for n in order if binds[n].expanding),
            binds={n: binds[n].type._cached_bind_processor(dialect) for n in order},
            defaults={n: binds[n].effective_value for n in order if not binds[n].required},
            results=tuple(e.type._cached_result_processor(dialect, None) for e in entries),
            rendered={},
        )
    if len(_READ_PLANS) >= _MOST_PLANS:
        # Statements are meant to be built once (module-level, cached); one built per call
        # would only lose its plan, never grow this without bound.
        _READ_PLANS.clear()
    _READ_PLANS[key] = built
    return built


def _sqlite_read(
    connection: Connection, statement: Select[Any], params: dict[str, Any]
) -> Rows | None:
    """``statement`` run on the driver's connection (inside the session's transaction), or
    None when it must take SQLAlchemy's path (an empty IN list: SQLAlchemy renders those as
    an expression of its own)."""
    plan = _read_plan(connection, statement)
    if plan is None:
        return None
    values: list[Any] = []
    lengths: list[int] = []
    for name in plan.order:
        value = params[name] if name in params else plan.defaults[name]
        convert = plan.binds[name]
        if name in plan.expanding:
            if not value:
                return None
            lengths.append(len(value))
            values.extend(value if convert is None else map(convert, value))
        else:
            values.append(value if convert is None else convert(value))
    shape = tuple(lengths)
    sql = plan.rendered.get(shape)
    if sql is None:
        sql = plan.sql
        for name, length in zip(plan.expanding, shape, strict=True):
            sql = sql.replace(f"__[POSTCOMPILE_{name}]", ", ".join(["?"] * length), 1)
        if len(plan.rendered) >= _MOST_SHAPES:
            plan.rendered.clear()
        plan.rendered[shape] = sql
    found = driver_execute(connection, sql, values).fetchall()
    results = plan.results
    if any(results):
        found = [
            tuple(v if p is None else p(v) for p, v in zip(results, row, strict=True))
            for row in found
        ]
    return Rows(found)


def write_rows(session: Session, statement: Any, params: dict[str, Any] | None = None) -> Any:
    """Run a Core INSERT, UPDATE or DELETE like :func:`read_rows`. The ORM layer it skips is
    where a read-only unit of work refuses writes and where watchers of tables learn of them
    (``laurel.kit.session_writes``): a write in a read-only unit of work, or to a watched
    table, still goes through the session."""
    table = getattr(statement, "table", None)
    if session.info.get(READONLY) or session_writes.watched(getattr(table, "name", None)):
        return session.execute(statement, params)
    return read_rows(session, statement, params)


class EncodedJSON(str):
    """JSON text already encoded (e.g. the audit trail's canonical form): stored as it is."""

    __slots__ = ()


class Unindexed(ColumnElement[Any]):
    """A column SQLite must not pick an index for; see ``unindexed``."""

    inherit_cache = True
    # The wrapped column is the whole cache key: without it SQLAlchemy could not cache any
    # statement that uses this (the reward transition was compiled afresh on every call).
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]  # noqa: RUF012

    def __init__(self, column: ColumnElement[Any]) -> None:
        self.column = column
        self.type = column.type


@compiles(Unindexed)
def _unindexed_default(element: Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column, **kw)


@compiles(Unindexed, "sqlite")
def _unindexed_sqlite(element: Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite's unary + is a no-op on any value that keeps the term from driving an index.
    return "+" + compiler.process(element.column, **kw)


def unindexed(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """``column`` as a filter SQLite should check row by row rather than search an index for.

    SQLite keeps no statistics unless told to, and guesses that an equality on any index's first
    column narrows to a few rows: for ``id IN (…) AND state IN (…)`` it searched the state index
    and walked every reward in that state (400 ms at 466,000 ready rewards) instead of seeking
    the ids. PostgreSQL, which plans from statistics, sees the plain column.
    """
    return Unindexed(column)


@cache
def insert_ignore_statement(dialect: str, table: Table, conflict: tuple[str, ...]) -> Executable:
    # Built once per table: constructing INSERT statements per row costs more than running them.
    module: Any = postgresql if dialect == "postgresql" else sqlite
    key = next(iter(table.primary_key.columns))
    # RETURNING tells an insert from a conflict on every driver; rowcount does not (-1).
    stmt: Executable = (
        module.insert(table).on_conflict_do_nothing(index_elements=list(conflict)).returning(key)
    )
    return stmt


def insert_ignore(
    session: Session, table: Table, values: dict[str, Any], conflict_columns: list[str]
) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True when this call inserted the row.

    Idempotency is the unique index: two transactions racing on the same key never both win,
    and the loser waits for the winner to commit before it learns it lost (PostgreSQL), so a
    following SELECT sees the winner's row.
    """
    dialect = session.get_bind().dialect.name
    stmt = insert_ignore_statement(dialect, table, tuple(conflict_columns))
    return session.execute(stmt, values).first() is not None


@cache
def _insert_quiet_statement(
    table: Table, conflict: tuple[str, ...], dialect: str = "sqlite"
) -> Executable:
    """INSERT … ON CONFLICT DO NOTHING without RETURNING (or a plain INSERT without a
    conflict target), built once per table."""
    if not conflict:
        return table.insert()
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt: Executable = module.insert(table).on_conflict_do_nothing(index_elements=list(conflict))
    return stmt


def insert_rows(
    session: Session, table: Table, rows: list[dict[str, Any]], conflict_columns: Sequence[str]
) -> set[Any]:
    """INSERT … ON CONFLICT DO NOTHING for many rows; answers the primary keys inserted.

    On PostgreSQL ``RETURNING`` says which rows went in. On SQLite, whose writers take turns,
    the rows go in with the driver's own ``executemany`` (several times cheaper than
    ``RETURNING`` through SQLAlchemy's multi-row VALUES), and only when fewer rows than sent
    went in does a SELECT find out which.
    """
    if not rows:
        return set()
    key = next(iter(table.primary_key.columns))
    dialect = session.get_bind().dialect.name
    if dialect != "sqlite":
        returned = _pg_insert(session, table, rows, tuple(conflict_columns), returning=True)
        if returned is not None:
            return set(returned.scalars())
        stmt = insert_ignore_statement(dialect, table, tuple(conflict_columns))
        return {row[0] for row in session.execute(stmt, rows)}
    inserted = insert_many(session, table, rows, conflict_columns)
    ids = [row[key.name] for row in rows]
    if inserted == len(rows):
        return set(ids)
    found: set[Any] = set()
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        found.update(session.scalars(select(key).where(key.in_(part))))
    return found


# ---------------------------------------------------------------- fast inserts on SQLite
#
# A batch of events writes thousands of rows. Through SQLAlchemy each value passes its type's
# bind processor inside per-row parameter construction, which cost more than SQLite's own work.
# On SQLite the values are converted here with the same storage forms SQLAlchemy uses (checked
# by tests/kit/test_sql.py against rows SQLAlchemy wrote) and handed to the driver's
# executemany as tuples. PostgreSQL keeps the ordinary path.

Converter = Callable[[Any], Any]


def _uuid_hex(value: Any) -> Any:
    if value is None:
        return None
    return value.hex if isinstance(value, uuid.UUID) else uuid.UUID(str(value)).hex


def _utc_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    zone = value.tzinfo
    if zone is None:
        raise ValueError("naive datetime refused: use timezone-aware UTC")
    if zone is not UTC:  # almost every value is already UTC (utcnow): no conversion to make
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _json_text(value: Any) -> str:
    if type(value) is EncodedJSON:
        return value
    return plain_json(value)


def _converter(column: Column[Any], dialect: Any) -> Converter | None:
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return _utc_text
    if isinstance(kind, Uuid):
        return _uuid_hex
    if isinstance(kind, JSON):
        return _json_text
    processor: Converter | None = kind._cached_bind_processor(dialect)
    return processor


@cache
def _fast_plan(
    table: Table, names: tuple[str, ...], conflict: tuple[str, ...], dialect: Any
) -> tuple[str, tuple[str, ...], tuple[Converter | None, ...]] | None:
    """The positional INSERT and one converter per column; None when the rows leave out a
    column whose value SQLAlchemy would have filled in (a Python-side default)."""
    for column in table.columns:
        if column.name not in names and column.default is not None:
            return None
    stmt = sqlite.insert(table)
    if conflict:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict))
    compiled = stmt.compile(dialect=dialect, column_keys=list(names))
    positions = compiled.positiontup or []
    if sorted(positions) != sorted(names):
        return None
    converters = tuple(_converter(table.columns[name], dialect) for name in positions)
    return str(compiled), tuple(positions), converters


def insert_many(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    conflict_columns: Sequence[str] = (),
) -> int:
    """INSERT (… ON CONFLICT DO NOTHING when ``conflict_columns``) every row; answers how many
    went in. Every row must carry the same keys."""
    if not rows:
        return 0
    connection = session.connection()
    dialect = connection.dialect
    names = tuple(rows[0])
    plan = (
        _fast_plan(table, names, tuple(conflict_columns), dialect)
        if dialect.name == "sqlite"
        else None
    )
    if dialect.name == "postgresql":
        result = _pg_insert(session, table, rows, tuple(conflict_columns), returning=False)
        if result is not None:
            return int(result.rowcount)
    if plan is None:
        stmt = _insert_quiet_statement(table, tuple(conflict_columns), dialect.name)
        result = session.execute(stmt, list(rows))
        count: int = result.rowcount  # type: ignore[attr-defined]
        return count
    sql, positions, converters = plan
    values = _positional(rows, positions, converters)
    per = min(_ROWS_PER_STATEMENT, _SQLITE_PARAMETERS // len(positions))
    count = 0
    for start in range(0, len(values), per):
        part = values[start : start + per]
        flat = tuple(value for row in part for value in row)
        statement = _rows_sql(sql, len(positions), len(part))
        count += driver_execute(connection, statement, flat).rowcount
    return count


# Many rows go in as one multi-row INSERT rather than one execution per row: a table with
# triggers makes SQLite open and close a statement journal for every execution that may abort
# (every insert into a table with a unique key), which cost rewards and completion events more
# than their indexes (60 → 37 µs a reward row). 64 rows a statement keeps the text (and the
# sqlite3 module's cache of parsed statements) small.
_ROWS_PER_STATEMENT = 64
# SQLite's default limit on bound values: 32,766 since 3.32, 999 before.
_SQLITE_PARAMETERS = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999


@cache
def _rows_sql(sql: str, width: int, count: int) -> str:
    """``sql`` (a one-row positional INSERT of ``width`` values) for ``count`` rows."""
    one = "(" + ", ".join(["?"] * width) + ")"
    head, found, tail = sql.partition(one)
    if not found:
        raise ValueError(f"no {width}-value row in {sql!r}")
    return head + ", ".join([one] * count) + tail


def _positional(
    rows: Sequence[dict[str, Any]],
    positions: tuple[str, ...],
    converters: tuple[Converter | None, ...],
) -> list[tuple[Any, ...]]:
    """The rows as tuples in statement order, each value converted to its storage form.

    Column by column rather than row by row: the loops run in C (``itemgetter``, ``map``,
    ``zip``) and only the values that need a converter pass through Python code.
    """
    if len(positions) == 1:
        name, convert = positions[0], converters[0]
        values = [row[name] for row in rows]
        return [(v,) for v in (values if convert is None else map(convert, values))]
    columns: list[Any] = list(zip(*map(itemgetter(*positions), rows), strict=True))
    for index, convert in enumerate(converters):
        if convert is None:
            continue
        column = columns[index]
        if len(set(map(id, column))) == 1:
            # One object in every row (the organization, the unit of work's clock): once.
            columns[index] = (convert(column[0]),) * len(column)
        else:
            columns[index] = map(convert, column)
    return list(zip(*columns, strict=True))


# ---------------------------------------------------------------- fast inserts on PostgreSQL
#
# SQLAlchemy sends many rows to PostgreSQL as one INSERT … VALUES (…), (…) with a placeholder per
# value; psycopg caches the parsing of a query only when it is short with few parameters, so
# every batch re-parsed a statement of thousands of placeholders, a third of an xAPI array's
# server time. Here the rows go as one array per column, ``INSERT … SELECT * FROM unnest(…)``:
# a short statement with one placeholder per column, the same text whatever the row count.


def _pg_value(column: Column[Any], dialect: Any) -> Converter | None:
    kind = column.type
    if isinstance(kind, JSON):
        return _json_text  # jsonb parses the text (also EncodedJSON) as SQLAlchemy's would
    processor: Converter | None = kind._cached_bind_processor(dialect)
    return processor


@cache
def _pg_plan(
    table: Table, names: tuple[str, ...], conflict: tuple[str, ...], returning: bool, dialect: Any
) -> tuple[str, tuple[Converter | None, ...]] | None:
    """The ``unnest`` INSERT and one converter per column; None when a column left out has a
    Python-side default (SQLAlchemy's path fills it in)."""
    for column in table.columns:
        if column.name not in names and column.default is not None:
            return None
    quote = dialect.identifier_preparer.quote
    columns = [table.columns[name] for name in names]
    # %b: psycopg sends the arrays in binary, ten times less CPU than quoting them as text.
    arrays = ", ".join(f"%b::{column.type.compile(dialect=dialect)}[]" for column in columns)
    # Names and types come from the table's metadata, quoted by the dialect; values are bound.
    sql = (
        f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "  # noqa: S608
        f"({', '.join(quote(name) for name in names)}) SELECT * FROM unnest({arrays})"
    )
    if conflict:
        sql += f" ON CONFLICT ({', '.join(quote(name) for name in conflict)}) DO NOTHING"
    if returning:
        sql += f" RETURNING {quote(next(iter(table.primary_key.columns)).name)}"
    return sql, tuple(_pg_value(column, dialect) for column in columns)


def _pg_column(values: list[Any], convert: Converter | None) -> list[Any] | None:
    """One column's values as psycopg can send them as one array (all of one type); None when
    they cannot be (SQLAlchemy's path takes the rows)."""
    if convert is not None:
        values = list(map(convert, values))  # None too: JSON's None is the JSON null
    kinds = {type(v) for v in values} - {type(None)}
    if len(kinds) <= 1:
        return values
    if all(issubclass(k, str) for k in kinds):
        # str enums beside plain str: the text they stand for, as psycopg sends a str subclass
        return [None if v is None else str.__str__(v) for v in values]
    if kinds <= {int, float}:
        return [None if v is None else float(v) for v in values]
    return None


def _pg_insert(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    conflict: tuple[str, ...],
    *,
    returning: bool,
) -> Any:
    """Insert ``rows`` through ``unnest`` on PostgreSQL; the driver's result, or None when the
    rows need SQLAlchemy's own path."""
    connection = session.connection()
    names = tuple(rows[0])
    plan = _pg_plan(table, names, conflict, returning, connection.dialect)
    if plan is None:
        return None
    sql, converters = plan
    arrays: list[list[Any]] = []
    for name, convert in zip(names, converters, strict=True):
        column = _pg_column([row[name] for row in rows], convert)
        if column is None:
            return None
        arrays.append(column)
    return connection.exec_driver_sql(sql, tuple(arrays))
