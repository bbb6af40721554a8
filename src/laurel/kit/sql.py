"""Small SQL helpers that must behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignore(
    session: Session, table: Table, values: dict[str, Any], conflict_columns: list[str]
) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True when this call inserted the row.

    Idempotency is the unique index: two transactions racing on the same key never both win,
    and the loser waits for the winner to commit before it learns it lost (PostgreSQL), so a
    following SELECT sees the winner's row.
    """
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    # RETURNING tells an insert from a conflict on every driver; rowcount does not (-1).
    key = next(iter(table.primary_key.columns))
    stmt = (
        module.insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=conflict_columns)
        .returning(key)
    )
    return session.execute(stmt).first() is not None
