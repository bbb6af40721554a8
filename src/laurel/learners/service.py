from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import ColumnElement, Select, Table, bindparam, insert, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.kit import crypto, session_writes
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.crypto import KeyRing
from laurel.kit.errors import Conflict, NotFound
from laurel.kit.observe import ObservedMany, Seen, chunks
from laurel.kit.observe import observe_many as observe_rows
from laurel.kit.pagination import Page, paginate
from laurel.kit.sql import read_rows
from laurel.learners import personal
from laurel.learners.models import Classification, Learner
from laurel.learners.schemas import LearnerCreate, LearnerFields, LearnerRef


class LearnerNotFound(NotFound):
    code = "learner_not_found"


def _changes(fields: LearnerFields) -> dict[str, Any]:
    return {k: v for k, v in fields.model_dump(exclude_unset=True).items() if v is not None}


def observe(session: Session, actor: Actor, ref: LearnerRef) -> Learner:
    """The learner an event names: created on first sight, refreshed with what the event says."""
    seen = observe_many(session, actor, [ref])
    learner = session.get(Learner, seen.rows[ref.external_id].id, populate_existing=True)
    assert learner is not None
    return learner


# What rules look at and what an event may change. Personal fields are compared through their
# blind indexes (``personal``): the intake never decrypts to tell whether a name changed.
OBSERVED = (
    "email_index",
    "name_index",
    "classification",
    "department",
    "manager_index",
    "country",
    "region",
    "locale",
)
_INDEXES = {personal.index(f): f for f in personal.FIELDS}


@dataclass(slots=True)
class _Personal:
    """What a batch of events says of learners' personal fields, in clear, last value wins."""

    ring: KeyRing
    latest: dict[str, dict[str, str]]
    """By external id: field → the last value an event of the batch gave."""
    alternates: dict[str, list[str]]
    """Current-key index → its indexes under every key of the ring (only with several)."""
    fresh_keys: dict[uuid.UUID, tuple[AESGCM, str]]

    def same(self, column: str, stored: Any, incoming: Any) -> bool:
        if stored == incoming:
            return True
        return column in _INDEXES and stored in self.alternates.get(incoming, ())

    def seal_new(self, fresh: list[Seen]) -> None:
        """New rows are inserted sealed, each under a key of its own."""
        for seen in fresh:
            key, wrapped = personal.new_key(self.ring)
            self.fresh_keys[seen.id] = (key, wrapped)
            given = self.latest.get(seen.values["external_id"], {})
            for field in personal.FIELDS:
                seen.values.update(
                    personal.columns(self.ring, key, seen.id, field, given.get(field))
                )


def _split(ring: KeyRing, refs: Sequence[LearnerRef]) -> tuple[list[Any], _Personal]:
    """Items for ``observe_many`` with personal fields replaced by their blind indexes."""
    several = len(ring.keys) > 1
    known = _Personal(ring, {}, {}, {})
    items = []
    for ref in refs:
        changes = _changes(ref)
        changes.pop("external_id", None)
        for field in personal.FIELDS:
            value = changes.pop(field, None)
            if value is None:
                continue
            found = personal.indexes(ring, field, value)
            changes[personal.index(field)] = found[0]
            if several:
                known.alternates[found[0]] = found
            known.latest.setdefault(ref.external_id, {})[field] = value
        items.append((ref.external_id, changes))
    return items, known


def observe_many(session: Session, actor: Actor, refs: Sequence[LearnerRef]) -> ObservedMany:
    """The learners a batch of events names, in a constant number of statements; each item's
    snapshot is the learner as that event (and the ones before it) left it.

    Personal fields cost one HMAC each when unchanged; new learners get a data key (one more
    INSERT per batch) and changed ones are re-sealed (one UPDATE per set of fields)."""
    _forget_views(session)  # learners are written below with Core statements
    items, known = _split(crypto.ring_of(session), refs)
    seen = observe_rows(
        session,
        Learner.__table__,  # type: ignore[arg-type]
        organization_id=actor.organization_id,
        livemode=actor.livemode,
        items=items,
        defaults={"classification": Classification.employee},
        columns=OBSERVED,
        same=known.same,
        before_insert=known.seal_new,
    )
    _store_keys(session, actor, seen, known)
    _fill_from_roster(session, actor, refs, seen, known)
    for row_id, verb, details in seen.news():
        if "changed" in details:
            details["changed"] = sorted(_INDEXES.get(n, n) for n in details["changed"])
        audit.record(
            session,
            organization_id=actor.organization_id,
            actor=actor.name,
            action=f"learners:learner:{verb}",
            target_type="learner",
            target_id=row_id,
            details=details,
        )
    _forget_views(session)
    return seen


def _store_keys(session: Session, actor: Actor, seen: ObservedMany, known: _Personal) -> None:
    """Keys of the new learners; changed personal fields of the others, re-sealed."""
    now = utcnow()
    fresh = [row for row in seen.rows.values() if row.created]
    if fresh:
        session.execute(
            insert(personal.key_table()),
            [
                personal.key_row(actor.organization_id, row.id, known.fresh_keys[row.id][1], now)
                for row in fresh
            ],
        )
        for row in fresh:
            personal.remember(session, row.id, known.fresh_keys[row.id][0])
    touched = {
        ext: row
        for ext, row in seen.rows.items()
        if not row.created and row.changed & _INDEXES.keys()
    }
    if not touched:
        return
    keys = personal.keys(session, {row.id for row in touched.values()})
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for ext, row in touched.items():
        key = keys.get(row.id)
        if key is None:
            # Sealed before keys existed, or a race lost to another transaction: a new key.
            key, wrapped = personal.new_key(known.ring)
            session.execute(
                insert(personal.key_table()).values(
                    personal.key_row(actor.organization_id, row.id, wrapped, now)
                )
            )
            personal.remember(session, row.id, key)
        fields = sorted(_INDEXES[n] for n in row.changed & _INDEXES.keys())
        values: dict[str, Any] = {"_id": row.id}
        for field in fields:
            sealed = personal.columns(known.ring, key, row.id, field, known.latest[ext].get(field))
            values[f"_{personal.sealed(field)}"] = sealed[personal.sealed(field)]
        by_columns.setdefault(tuple(personal.sealed(f) for f in fields), []).append(values)
    for names, params in by_columns.items():
        session.execute(_seal_statement(names), params)


@cache
def _seal_statement(names: tuple[str, ...]) -> Any:
    table: Table = Learner.__table__  # type: ignore[assignment]
    return (
        sql_update(table)
        .where(table.c.id == bindparam("_id"))
        .values({name: bindparam(f"_{name}") for name in names})
    )


def _missing(
    current: dict[str, Any], roster: dict[str, Any], *, classification_open: bool
) -> dict[str, Any]:
    """The roster's values for what the learner lacks: an empty department or manager, and
    the classification when nothing more specific than the default was given."""
    changes = {
        name: roster[name]
        for name in ("department", "manager")
        if roster.get(name) and current.get(name) is None
    }
    wanted = roster.get("classification")
    if wanted and classification_open and wanted != current.get("classification"):
        changes["classification"] = wanted
    return changes


def fill_missing(
    session: Session,
    learner: Learner,
    *,
    department: str | None,
    manager: str | None,
    classification: str | None,
    actor: str,
    source: str,
) -> list[str]:
    """Fill what the LMS did not send: an empty department or manager, and the default
    classification (``employee``) when HR says otherwise. Answers the fields changed."""
    changes = _missing(
        {
            "department": learner.department,
            "manager": learner.manager,
            "classification": learner.classification,
        },
        {"department": department, "manager": manager, "classification": classification},
        classification_open=learner.classification == Classification.employee,
    )
    for key, value in changes.items():
        setattr(learner, key, value)
    if changes:
        learner.updated_at = utcnow()
        audit.record(
            session,
            organization_id=learner.organization_id,
            actor=actor,
            action="learners:learner:update",
            target_type="learner",
            target_id=learner.id,
            details={"changed": sorted(changes), "from": source},
        )
    return sorted(changes)


def _fill_from_roster(
    session: Session,
    actor: Actor,
    refs: Sequence[LearnerRef],
    seen: ObservedMany,
    known: _Personal,
) -> None:
    """Learners first seen in this batch take what the latest HR roster knows and the LMS did
    not send (department, manager; classification when no event named one). The events of the
    batch are decided with the filled values."""
    fresh = {ext: row for ext, row in seen.rows.items() if row.created}
    if not fresh:
        return
    from laurel.roster import service as roster  # noqa: PLC0415 - roster reads learners

    on_roster = roster.entries_for(
        session,
        actor.organization_id,
        [(ext, known.latest.get(ext, {}).get("email")) for ext, row in fresh.items()],
    )
    if not on_roster:
        return
    named_class = {ref.external_id for ref in refs if ref.classification is not None}
    filled: dict[str, dict[str, Any]] = {}
    for ext, entry in on_roster.items():
        row = fresh[ext]
        current = {
            **row.values,
            "manager": known.latest.get(ext, {}).get("manager"),
        }
        changes = _missing(current, entry, classification_open=ext not in named_class)
        if changes:
            filled[ext] = changes
    if not filled:
        return
    table: Table = Learner.__table__  # type: ignore[assignment]
    now = utcnow()
    for ext, changes in filled.items():
        row = fresh[ext]
        stored = dict(changes)
        if "manager" in stored:
            key = known.fresh_keys[row.id][0]
            stored.update(personal.columns(known.ring, key, row.id, "manager", stored["manager"]))
            del stored["manager"]
        row.values.update(stored)
        session.execute(
            sql_update(table).where(table.c.id == row.id).values(**stored, updated_at=now)
        )
        audit.record(
            session,
            organization_id=actor.organization_id,
            actor=actor.name,
            action="learners:learner:update",
            target_type="learner",
            target_id=fresh[ext].id,
            details={"changed": sorted(changes), "from": "roster"},
        )
    for ref, snapshot in zip(refs, seen.snapshots, strict=True):
        if ref.external_id in filled:
            snapshot.update(filled[ref.external_id])


def create(session: Session, actor: Actor, data: LearnerCreate) -> Learner:
    exists = session.scalar(
        select(Learner.id).where(
            Learner.organization_id == actor.organization_id,
            Learner.livemode == actor.livemode,
            Learner.external_id == data.external_id,
        )
    )
    if exists is not None:
        raise Conflict(f"learner {data.external_id!r} already exists ({exists})")
    return observe(session, actor, data)


def get(session: Session, actor: Actor, learner_id: uuid.UUID) -> Learner:
    learner = session.scalar(
        select(Learner).where(
            Learner.organization_id == actor.organization_id,
            Learner.livemode == actor.livemode,
            Learner.id == learner_id,
            *in_scope(actor),
        )
    )
    if learner is None:
        raise LearnerNotFound(f"no learner {learner_id}")
    return learner


def in_scope(actor: Actor) -> list[ColumnElement[bool]]:
    """Conditions on ``Learner`` that keep a scoped caller to its departments or to itself.

    Out-of-scope learners are simply not found (404), so their existence does not leak.
    """
    conditions: list[ColumnElement[bool]] = []
    if actor.learner_id is not None:
        conditions.append(Learner.id == actor.learner_id)
    if actor.departments is not None:
        conditions.append(Learner.department.in_(sorted(actor.departments)))
    return conditions


def named(session: Session, text: str) -> ColumnElement[bool]:
    """A condition on ``Learner``: this external id, or this email (through its blind index:
    emails are sealed)."""
    return (Learner.external_id == text) | personal.where_email(crypto.ring_of(session), text)


def visible_ids(actor: Actor) -> Select[uuid.UUID] | None:
    """The ids of the learners a scoped caller may see (a subquery), or None for everyone."""
    if not actor.scoped:
        return None
    return select(Learner.id).where(
        Learner.organization_id == actor.organization_id, *in_scope(actor)
    )


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a learner is for sanctions screening."""

    name: str | None
    country: str | None
    blocked: bool
    """Blocked after a confirmed sanctions match."""


UNKNOWN = Identity(None, None, False)


def identities(
    session: Session, organization_id: uuid.UUID, ids: set[uuid.UUID]
) -> dict[uuid.UUID, Identity]:
    """Name, country and sanctions block of many learners (:func:`gate_view`): the screening
    gate asks this for every batch of rewards."""
    return {
        i: Identity(v.name, v.country, v.blocked)
        for i, v in gate_view(session, organization_id, ids).items()
    }


@dataclass(frozen=True, slots=True)
class Facts:
    """What the tax gate needs of a learner: classification, country and how to reach them."""

    classification: str
    country: str | None
    name: str | None
    email: str | None
    locale: str | None


def facts(
    session: Session, organization_id: uuid.UUID, ids: set[uuid.UUID]
) -> dict[uuid.UUID, Facts]:
    """Classification, country, name, email and locale of many learners (:func:`gate_view`),
    for gates that judge whole batches."""
    return {
        i: Facts(v.classification, v.country, v.name, v.email, v.locale)
        for i, v in gate_view(session, organization_id, ids).items()
    }


def get_many(
    session: Session, organization_id: uuid.UUID, ids: set[uuid.UUID]
) -> dict[uuid.UUID, Learner]:
    if not ids:
        return {}
    rows = session.scalars(
        select(Learner).where(Learner.organization_id == organization_id, Learner.id.in_(ids))
    )
    return {row.id: row for row in rows}


def update(session: Session, actor: Actor, learner_id: uuid.UUID, data: LearnerFields) -> Learner:
    learner = get(session, actor, learner_id)
    changes = {
        k: v for k, v in data.model_dump(exclude_unset=True).items() if getattr(learner, k) != v
    }
    for k, v in changes.items():
        setattr(learner, k, v)
    if changes:
        learner.updated_at = utcnow()
        audit.record(
            session,
            organization_id=actor.organization_id,
            actor=actor.name,
            action="learners:learner:update",
            target_type="learner",
            target_id=learner.id,
            details={"changed": sorted(changes)},
        )
    return learner


def list_learners(
    session: Session,
    actor: Actor,
    *,
    limit: int,
    cursor: uuid.UUID | None,
    classification: str | None = None,
    department: str | None = None,
) -> Page[Learner]:
    query = select(Learner).where(
        Learner.organization_id == actor.organization_id,
        Learner.livemode == actor.livemode,
        *in_scope(actor),
    )
    if classification:
        query = query.where(Learner.classification == classification)
    if department:
        query = query.where(Learner.department == department)
    return paginate(session, query, Learner.id, limit=limit, cursor=cursor)


def delete(session: Session, actor: Actor, learner_id: uuid.UUID) -> None:
    """Remove a learner who has no history; one with events, rewards or points stays (audit,
    tax, the points ledger)."""
    from laurel.events import service as events  # noqa: PLC0415 - events call this domain
    from laurel.points import ledger  # noqa: PLC0415 - points call this domain

    learner = get(session, actor, learner_id)
    if events.has_history(session, actor.organization_id, learner_id=learner.id):
        raise Conflict("this learner has completion history and cannot be deleted")
    if ledger.has_entries(session, actor.organization_id, learner.id):
        # The ledger is a financial record that is never deleted; a privacy deletion request
        # erases the person and keeps the books.
        raise Conflict(
            "this learner has points on the ledger and cannot be deleted; a privacy deletion "
            "request (POST /api/v1/privacy/requests, kind deletion) erases their personal data"
        )
    ledger.forget(session, actor.organization_id, learner.id)
    session.delete(learner)
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="learners:learner:delete",
        target_type="learner",
        target_id=learner_id,
        details={"external_id": learner.external_id},
    )


def block_for_sanctions(
    session: Session, organization_id: uuid.UUID, learner_id: uuid.UUID
) -> None:
    """Mark a learner blocked after a confirmed sanctions match (the screening gate holds
    their later rewards). Idempotent: the first confirmation's time is kept. Loaded copies in
    the session are updated too, so a gate run later in this unit of work sees the block."""
    session.execute(
        sql_update(Learner)
        .where(
            Learner.organization_id == organization_id,
            Learner.id == learner_id,
            Learner.screening_blocked_at.is_(None),
        )
        .values(screening_blocked_at=utcnow())
    )


def unblock_for_sanctions(
    session: Session, organization_id: uuid.UUID, learner_id: uuid.UUID
) -> bool:
    """Lift a sanctions block (a delisting, a mistaken confirmation); False if not blocked."""
    changed = session.execute(
        sql_update(Learner)
        .where(
            Learner.organization_id == organization_id,
            Learner.id == learner_id,
            Learner.screening_blocked_at.is_not(None),
        )
        .values(screening_blocked_at=None)
        .returning(Learner.id)
    ).first()
    return changed is not None


@dataclass(frozen=True, slots=True)
class Profile:
    """What the compliance and budget gates need of a learner."""

    classification: str
    country: str | None
    department: str | None


def profiles(
    session: Session, organization_id: uuid.UUID, ids: set[uuid.UUID]
) -> dict[uuid.UUID, Profile]:
    """Classification, country and department of many learners (:func:`gate_view`)."""
    return {
        i: Profile(v.classification, v.country, v.department)
        for i, v in gate_view(session, organization_id, ids).items()
    }


# ---------------------------------------------------------------- what the gates read


@dataclass(frozen=True, slots=True)
class GateView:
    """Everything the gates read of a learner, read once per unit of work."""

    classification: str
    country: str | None
    department: str | None
    name: str | None
    email: str | None
    locale: str | None
    blocked: bool


_VIEWS = "laurel.learners.gate_views"


def gate_view(
    session: Session, organization_id: uuid.UUID, ids: set[uuid.UUID]
) -> dict[uuid.UUID, GateView]:
    """The learners as the gates see them. Five gates judge the same learners one after the
    other; each used to read them itself. Now the first read serves the rest of the unit of
    work, until anything writes learners in it (:func:`_forget_views`)."""
    views: dict[tuple[uuid.UUID, uuid.UUID], GateView] = session.info.setdefault(_VIEWS, {})
    missing = sorted(i for i in ids if (organization_id, i) not in views)
    rows: list[Any] = []
    for part in chunks(missing):
        rows += [
            row
            for row in read_rows(session, _view_sql(), {"_ids": part})
            if row[8] == organization_id  # another organization's id answers nothing
        ]
    opened = personal.open_rows(
        session, ((row[0], {"name": row[4], "email": row[5]}) for row in rows)
    )
    for row, plain in zip(rows, opened, strict=True):
        views[(organization_id, row[0])] = GateView(
            row[1], row[2], row[3], plain["name"], plain["email"], row[6], row[7] is not None
        )
    return {i: views[(organization_id, i)] for i in ids if (organization_id, i) in views}


@cache
def _view_sql() -> Any:
    table: Table = Learner.__table__  # type: ignore[assignment]
    return select(
        table.c.id,
        table.c.classification,
        table.c.country,
        table.c.department,
        table.c.name_sealed,
        table.c.email_sealed,
        table.c.locale,
        table.c.screening_blocked_at,
        table.c.organization_id,
        # By primary key alone: with the organization in the WHERE clause SQLite walks the
        # organization's (organization, mode, external id) index instead, every learner of it
        # for every chunk. The organization is checked on each row instead.
    ).where(table.c.id.in_(bindparam("_ids", expanding=True)))


def _forget_views(session: Session) -> None:
    session.info.pop(_VIEWS, None)


session_writes.on_write(frozenset({"learners"}), _forget_views, watching=lambda s: _VIEWS in s.info)
session_writes.on_transaction_end(_forget_views)


@cache
def in_department() -> Select[Any]:
    """The ids of a department's learners (bind ``_dept_org``, ``_dept_live``, ``_department``),
    as a subquery other domains filter with (a department's leaderboard) without reading the
    learners table themselves. Built once: building a statement costs more than running it."""
    table: Table = Learner.__table__  # type: ignore[assignment]
    return select(table.c.id).where(
        table.c.organization_id == bindparam("_dept_org"),
        table.c.livemode == bindparam("_dept_live"),
        table.c.department == bindparam("_department"),
    )
