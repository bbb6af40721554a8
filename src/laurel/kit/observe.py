"""Rows that events create on first sight (learners, courses), safe under concurrent events."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, Table, Update, bindparam, select, update
from sqlalchemy.orm import Session

from laurel.kit.clock import utcnow
from laurel.kit.ids import uuid7
from laurel.kit.orm import ExternalMixin
from laurel.kit.sql import insert_ignore, insert_rows, read_rows

R = TypeVar("R", bound=ExternalMixin)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Observed(Generic[R]):
    row: R
    created: bool
    changed: list[str]


def observe(
    session: Session,
    model: type[R],
    *,
    organization_id: uuid.UUID,
    livemode: bool,
    external_id: str,
    defaults: dict[str, Any],
    changes: dict[str, Any],
) -> Observed[R]:
    """Find the row by its natural key or create it; apply what the event says about it.

    The common case (the row exists) is one SELECT. Creation is an insert that ignores a
    conflict on the natural key, so two events naming a new learner at once create one row.
    """
    query = select(model).where(
        model.organization_id == organization_id,
        model.livemode == livemode,
        model.external_id == external_id,
    )
    row = session.scalars(query).one_or_none()
    created = False
    if row is None:
        now = utcnow()
        created = insert_ignore(
            session,
            model.__table__,  # type: ignore[attr-defined]
            {
                "id": uuid7(),
                "organization_id": organization_id,
                "livemode": livemode,
                "external_id": external_id,
                "created_at": now,
                "updated_at": now,
                **defaults,
                **changes,
            },
            ["organization_id", "livemode", "external_id"],
        )
        row = session.scalars(query).one()
        if created:
            return Observed(row, True, [])
    changed = sorted(k for k, v in changes.items() if getattr(row, k) != v)
    for name in changed:
        setattr(row, name, changes[name])
    if changed:
        row.updated_at = utcnow()
    return Observed(row, created, changed)


# Bind parameters per IN list: far below SQLite's and PostgreSQL's limits, large enough that a
# batch of 1,000 events needs two or three statements.
CHUNK = 500


def chunks(values: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass(slots=True)
class Seen:
    """One row as a batch of events sees it: its id and current attributes."""

    id: uuid.UUID
    values: dict[str, Any]
    created: bool = False
    changed: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class ObservedMany:
    rows: dict[str, Seen]
    """By external id: the row after every item of the batch was applied."""
    snapshots: list[dict[str, Any]]
    """Per item, in order: the row's attributes as that item left them."""

    def news(self) -> Iterator[tuple[uuid.UUID, str, dict[str, Any]]]:
        """What to record of the batch, per row created or changed: (id, verb, details)."""
        for external_id, row in self.rows.items():
            if row.created:
                yield row.id, "create", {"external_id": external_id, "from": "event"}
            elif row.changed:
                yield row.id, "update", {"changed": sorted(row.changed), "from": "event"}


def observe_many(
    session: Session,
    table: Table,
    *,
    organization_id: uuid.UUID,
    livemode: bool,
    items: Sequence[tuple[str, dict[str, Any]]],
    defaults: dict[str, Any],
    columns: Sequence[str],
    same: Callable[[str, Any, Any], bool] | None = None,
    before_insert: Callable[[list[Seen]], None] | None = None,
) -> ObservedMany:
    """``observe`` for a batch, in a constant number of statements.

    ``items`` are (external id, changes) in arrival order. Each item sees the row as the items
    before it left it, exactly as if they had been observed one by one; the database gets one
    SELECT per chunk of ids, one INSERT for the new rows and one UPDATE per distinct set of
    changed columns.

    ``same(column, stored, incoming)`` tells an unchanged value (default: equality; blind
    indexes made under an older key are the same value). ``before_insert`` may add columns
    to the new rows' values (the same ones to each) before they are written.
    """
    unchanged = same or _equal
    wanted = list(dict.fromkeys(external_id for external_id, _ in items))
    rows = _load(session, table, organization_id, livemode, wanted, columns)
    now = utcnow()
    snapshots: list[dict[str, Any]] = []
    for external_id, changes in items:
        seen = rows.get(external_id)
        if seen is None:
            seen = rows[external_id] = Seen(
                uuid7(), {**defaults, **changes, "external_id": external_id}, created=True
            )
        else:
            for name, value in changes.items():
                if not unchanged(name, seen.values.get(name), value):
                    seen.values[name] = value
                    if not seen.created:
                        seen.changed.add(name)
        snapshots.append(dict(seen.values))
    fresh = [s for s in rows.values() if s.created]
    if fresh:
        if before_insert is not None:
            before_insert(fresh)
        _insert_new(session, table, organization_id, livemode, rows, fresh, columns, now, unchanged)
    _update_changed(session, table, [s for s in rows.values() if s.changed], now)
    return ObservedMany(rows, snapshots)


def _equal(_name: str, stored: Any, incoming: Any) -> bool:
    return bool(stored == incoming)


def _load(
    session: Session,
    table: Table,
    organization_id: uuid.UUID,
    livemode: bool,
    external_ids: Sequence[str],
    columns: Sequence[str],
) -> dict[str, Seen]:
    found: dict[str, Seen] = {}
    stmt = _load_statement(table, tuple(columns))
    names = ("external_id", *columns)
    for part in chunks(external_ids):
        params = {"_org": organization_id, "_live": livemode, "_ids": part}
        for row in read_rows(session, stmt, params):
            # Plain tuples: a row's mapping view costs more than the row.
            values = dict(zip(names, row[1:], strict=True))
            found[row[1]] = Seen(row[0], values)
    return found


@cache
def _load_statement(table: Table, columns: tuple[str, ...]) -> Select[Any]:
    cols = [table.c.id, table.c.external_id, *(table.c[name] for name in columns)]
    return select(*cols).where(
        table.c.organization_id == bindparam("_org"),
        table.c.livemode == bindparam("_live"),
        table.c.external_id.in_(bindparam("_ids", expanding=True)),
    )


def _insert_new(
    session: Session,
    table: Table,
    organization_id: uuid.UUID,
    livemode: bool,
    rows: dict[str, Seen],
    fresh: list[Seen],
    columns: Sequence[str],
    now: datetime,
    unchanged: Callable[[str, Any, Any], bool],
) -> None:
    params = [
        {
            "id": seen.id,
            "organization_id": organization_id,
            "livemode": livemode,
            "created_at": now,
            "updated_at": now,
            # Every row names every column: one INSERT for rows that say different things.
            **dict.fromkeys(columns),
            **seen.values,
        }
        for seen in fresh
    ]
    inserted = insert_rows(session, table, params, ("organization_id", "livemode", "external_id"))
    lost = [seen for seen in fresh if seen.id not in inserted]
    if not lost:
        return
    # Another transaction created some of these rows first (PostgreSQL): take its rows, and
    # apply what this batch says about them as changes.
    theirs = _load(
        session,
        table,
        organization_id,
        livemode,
        [seen.values["external_id"] for seen in lost],
        columns,
    )
    for seen in lost:
        winner = theirs[seen.values["external_id"]]
        seen.changed = {
            name
            for name in columns
            if name in seen.values
            and not unchanged(name, winner.values.get(name), seen.values[name])
        }
        seen.id, seen.created = winner.id, False
        rows[seen.values["external_id"]] = seen


@cache
def _update_statement(table: Table, names: tuple[str, ...]) -> Update:
    return (
        update(table)
        .where(table.c.id == bindparam("_id"))
        .values({name: bindparam(f"_{name}") for name in (*names, "updated_at")})
    )


def _update_changed(session: Session, table: Table, changed: list[Seen], now: datetime) -> None:
    by_columns: dict[tuple[str, ...], list[Seen]] = {}
    for seen in changed:
        by_columns.setdefault(tuple(sorted(seen.changed)), []).append(seen)
    for names, group in by_columns.items():
        stmt = _update_statement(table, names)
        session.execute(
            stmt,
            [
                {"_id": s.id, "_updated_at": now, **{f"_{n}": s.values[n] for n in names}}
                for s in group
            ],
        )
