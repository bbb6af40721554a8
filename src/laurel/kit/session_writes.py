"""Noticing, inside a unit of work, that it wrote certain tables.

Per-transaction caches (configuration read once per revision, the learners the gates read)
must not be trusted after the transaction changed what they hold. ``on_write`` calls back
when a session flushes ORM rows of the given tables or runs an INSERT, UPDATE or DELETE on
them through ``session.execute``. Statements sent on a raw connection are not seen: code that
writes that way forgets its caches itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

Callback = Callable[[Session], None]

_WATCHED: set[str] = set()
"""Every table some ``on_write`` follows (see :func:`watched`)."""


def watched(table: str | None) -> bool:
    """Whether a write to ``table`` must reach a watcher, i.e. go through ``session.execute``
    (``laurel.kit.sql.write_rows`` sends writes to other tables past it)."""
    return table in _WATCHED


def on_write(
    tables: frozenset[str], wrote: Callback, *, watching: Callable[[Session], bool]
) -> None:
    """Call ``wrote(session)`` when a session writes one of ``tables``, while
    ``watching(session)`` says there is something to forget (a cheap check, run first)."""
    _WATCHED.update(tables)

    def on_flush(session: Session, _context: UOWTransaction, _instances: Any) -> None:
        if not watching(session):
            return
        for obj in (*session.new, *session.dirty, *session.deleted):
            if getattr(type(obj), "__tablename__", None) in tables:
                wrote(session)
                return

    def on_execute(state: ORMExecuteState) -> None:
        if state.is_select or not watching(state.session):
            return
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in tables:
            wrote(state.session)

    event.listen(Session, "before_flush", on_flush)
    event.listen(Session, "do_orm_execute", on_execute)


def on_transaction_end(ended: Callback) -> None:
    """Call ``ended(session)`` when a session's outer transaction ends (commit or rollback; a
    savepoint ending leaves the transaction and what it wrote)."""

    def on_end(session: Session, transaction: Any) -> None:
        if transaction.parent is None:
            ended(session)

    event.listen(Session, "after_transaction_end", on_end)
