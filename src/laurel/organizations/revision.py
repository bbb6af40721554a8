"""Configuration read once per change, not once per event.

Every gate reads a little of its organization's configuration for each group of events: the
tax policy and thresholds, provider routes, budget definitions, the sanctions list version.
Each read is one statement, and together they were a third of what a single event costs.
They change rarely, so a process keeps what it read and reuses it while the organization's
``config_revision`` (one primary-key read per transaction, shared with the program snapshot)
still has the value it had when the entry was built.

The database keeps the revision honest, not the code: triggers on every configuration table
(migration 0022) give the organization a fresh revision on any INSERT, UPDATE or DELETE, from
any code path or a hand-written statement. A fresh revision is never a value used before (a
sequence on PostgreSQL, a random 63-bit number on SQLite), so an entry built inside a
transaction that wrote configuration and then rolled back can never be mistaken for a later
state: its revision never becomes visible to anyone else.

A transaction that writes a configuration table itself (seen by the session's flush and
statement hooks below) neither reads nor fills the shared entries until it ends: it must see
its own changes, and they may still roll back.

What is cached must be plain, immutable data (tuples, frozen dataclasses), never ORM rows:
one entry is shared by every request of the process.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Hashable
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Table, bindparam, func, literal_column, select, text, update
from sqlalchemy.orm import Session

from laurel.kit import session_writes
from laurel.kit.sql import read_rows
from laurel.organizations.models import Organization

T = TypeVar("T")

_ORGS: Table = Organization.__table__  # type: ignore[assignment]
_SEEN = "laurel.config.revision"
_WROTE = "laurel.config.wrote"

TABLES: tuple[str, ...] = (
    "budgets",
    "fcpa_settings",
    "provider_routes",
    "tax_settings",
    "tax_thresholds",
)
"""Organization configuration tables whose every change gives the organization a fresh
revision (a trigger each, migration 0022)."""
GLOBAL_TABLES: tuple[str, ...] = ("sanctions_list_versions",)
"""Tables shared by all organizations: a change gives every organization a fresh revision."""
_WATCHED = frozenset(TABLES + GLOBAL_TABLES)
_SEQUENCE = "config_revision_seq"
"""PostgreSQL: where fresh revisions come from (migration 0022)."""

# (organization, what) -> (revision, value). Values are immutable, so sharing them is safe.
_SHARED: dict[tuple[uuid.UUID, Hashable], tuple[int, Any]] = {}
_LOCK = threading.Lock()


@cache
def _read() -> Any:
    return select(_ORGS.c.config_revision).where(_ORGS.c.id == bindparam("_org"))


def current(session: Session, organization_id: uuid.UUID) -> int | None:
    """The organization's configuration revision as this transaction sees it (read once per
    transaction; :func:`changed` forgets it). None: no such organization."""
    seen: dict[uuid.UUID, int | None] = session.info.setdefault(_SEEN, {})
    if organization_id not in seen:
        seen[organization_id] = read_rows(session, _read(), {"_org": organization_id}).scalar()
    return seen[organization_id]


def shared(
    session: Session, organization_id: uuid.UUID, what: Hashable, build: Callable[[], T]
) -> T:
    """``build()``, or what it returned before at this same configuration revision."""
    if session.info.get(_WROTE):
        return build()
    revision = current(session, organization_id)
    key = (organization_id, what)
    found = _SHARED.get(key)
    if revision is not None and found is not None and found[0] == revision:
        value: T = found[1]
        return value
    value = build()
    if revision is not None:
        with _LOCK:
            _SHARED[key] = (revision, value)
    return value


def fresh_revision(dialect: str) -> Any:
    """An SQL expression for a revision value never produced before (see the module doc)."""
    if dialect == "postgresql":
        return func.nextval(literal_column(f"'{_SEQUENCE}'"))
    return text("(random() & 9223372036854775807)")


def changed(session: Session, organization_id: uuid.UUID) -> None:
    """Give the organization a fresh revision now, for tables without a trigger (the program
    service's own, which predate them); this transaction reads its own configuration since."""
    dialect = session.get_bind().dialect.name
    session.execute(
        update(Organization)
        .where(Organization.id == organization_id)
        .values(config_revision=fresh_revision(dialect))
    )
    _mark(session)


# ---------------------------------------------------------------- seeing our own writes


def _mark(session: Session) -> None:
    session.info[_WROTE] = True
    session.info.pop(_SEEN, None)


def _end(session: Session) -> None:
    session.info.pop(_SEEN, None)
    session.info.pop(_WROTE, None)


session_writes.on_write(_WATCHED, _mark, watching=lambda s: not s.info.get(_WROTE))
session_writes.on_transaction_end(_end)
