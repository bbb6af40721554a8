"""An attacker with direct database access: switches off the append-only triggers first."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, text

from laurel.db import Database

SQLITE_TRIGGERS = (
    "audit_entries_no_update",
    "audit_entries_no_delete",
    "audit_heads_forward_only",
    "audit_heads_no_delete",
)


@contextmanager
def as_attacker(database: Database) -> Iterator[Connection]:
    """A transaction in which the triggers do not fire.

    On PostgreSQL a superuser can make this one transaction skip user triggers (the shared
    test database keeps its triggers for the next test); on SQLite, whose triggers belong to
    the file, they are dropped (each test has its own copy).
    """
    with database.engine.begin() as conn:
        if database.is_sqlite:
            for name in SQLITE_TRIGGERS:
                conn.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
        else:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        yield conn
