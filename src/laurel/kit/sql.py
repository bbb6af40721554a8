"""Small SQL helpers that must behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Executable, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


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
def _insert_quiet_statement(table: Table, conflict: tuple[str, ...]) -> Executable:
    stmt: Executable = sqlite.insert(table).on_conflict_do_nothing(index_elements=list(conflict))
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
        stmt = insert_ignore_statement(dialect, table, tuple(conflict_columns))
        return {row[0] for row in session.execute(stmt, rows)}
    result = session.execute(_insert_quiet_statement(table, tuple(conflict_columns)), rows)
    ids = [row[key.name] for row in rows]
    if result.rowcount == len(rows):  # type: ignore[attr-defined]
        return set(ids)
    found: set[Any] = set()
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        found.update(session.scalars(select(key).where(key.in_(part))))
    return found
