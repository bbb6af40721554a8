"""Rosters: storing a snapshot, finding a learner on the latest one, filling learner fields.

A roster becomes the latest only when its whole file is in (``completed_at``); until then the
previous one keeps answering, so a half-read roster never holds or releases anyone.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Executable,
    and_,
    case,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.imports.models import Import, ImportKind, ImportStatus
from laurel.kit import crypto
from laurel.kit.clock import utcnow
from laurel.kit.ids import uuid7
from laurel.kit.observe import chunks
from laurel.learners import service as learners
from laurel.learners.models import Learner
from laurel.roster import sealed
from laurel.roster.models import Roster, RosterEntry, WorkerStatus

if TYPE_CHECKING:
    from laurel.imports.parse import RosterRow

NOT_ON_ROSTER = "not_on_roster"
_LATEST = "laurel.roster.latest"


def start(session: Session, organization_id: uuid.UUID, import_id: uuid.UUID) -> uuid.UUID:
    """The roster an import fills (the same one again when the import resumes)."""
    found = session.scalar(select(Roster.id).where(Roster.import_id == import_id))
    if found is not None:
        return found
    roster_id = uuid7()
    session.add(Roster(id=roster_id, organization_id=organization_id, import_id=import_id))
    session.flush()
    return roster_id


_STANDING = {WorkerStatus.terminated: 0, WorkerStatus.leave: 1, WorkerStatus.active: 2}


def precedence(status: str, primary: bool) -> int:
    """Rank of one of several rows with the same employee id in one roster (ADP lists a worker
    once per position: a rehire's old and new position, a transfer). The highest stands for
    the worker: active over leave over terminated, wherever the rows are in the file (a
    worker active in any position is employed); among rows of one status, the primary
    position."""
    return _STANDING[WorkerStatus(status)] * 2 + int(primary)


def add(
    session: Session, organization_id: uuid.UUID, roster_id: uuid.UUID, entries: Sequence[RosterRow]
) -> None:
    """Store entries (email and manager sealed), merging rows of one employee id.

    Of several rows with the same employee id, in this call or across calls (an import's
    chunks), the entry keeps the row of the highest :func:`precedence`, then the latest hire
    date, then the first line: the outcome does not depend on row order. That row supplies
    status, department, manager, classification, country and hire date; the email is the
    winner's, else the other row's. One upsert on ``(roster_id, employee_id)`` whose update
    applies only when the new row wins, so a chunk retried after a crash changes nothing.
    """
    now = utcnow()
    ring = crypto.ring_of(session)
    best: dict[str, dict[str, Any]] = {}
    for e in entries:
        values = {
            "id": uuid7(),
            "organization_id": organization_id,
            "created_at": now,
            "roster_id": roster_id,
            "employee_id": e.employee_id,
            **sealed.columns(ring, e.email, e.manager),
            "status": e.status,
            "department": e.department,
            "classification": e.classification,
            "country": e.country,
            "hire_date": e.hire_date,
            "line": e.line,
            "precedence": precedence(e.status, e.primary),
        }
        held = best.get(e.employee_id)
        if held is None or _rank(values) > _rank(held):
            if held is not None and values[sealed.EMAIL.column] is None:
                values[sealed.EMAIL.column] = held[sealed.EMAIL.column]
                values[sealed.INDEX] = held[sealed.INDEX]
            best[e.employee_id] = values
        elif held[sealed.EMAIL.column] is None:
            held[sealed.EMAIL.column] = values[sealed.EMAIL.column]
            held[sealed.INDEX] = values[sealed.INDEX]
    if best:
        # Unique employee ids per statement: PostgreSQL refuses to update one row twice in one.
        session.execute(_merge_statement(session.get_bind().dialect.name), list(best.values()))


def _rank(values: dict[str, Any]) -> tuple[int, bool, date, int]:
    """Which of two rows of one employee id wins (the higher): precedence, then a hire date
    over none and the later hire date, then the earlier line. :func:`_merge_statement` applies
    the same order in SQL."""
    hired: date | None = values["hire_date"]
    return (values["precedence"], hired is not None, hired or date.min, -values["line"])


@cache
def _merge_statement(dialect: str) -> Executable:
    """INSERT … ON CONFLICT (roster_id, employee_id) DO UPDATE: the entry takes the new row
    where it wins (:func:`_rank`), and an email it lacks from whichever row has one."""
    module: Any = postgresql if dialect == "postgresql" else sqlite
    table = RosterEntry.__table__
    stmt = module.insert(table)
    new, old = stmt.excluded, table.c
    same_hire = or_(
        new.hire_date == old.hire_date, and_(new.hire_date.is_(None), old.hire_date.is_(None))
    )
    later_hire = and_(
        new.hire_date.is_not(None), or_(old.hire_date.is_(None), new.hire_date > old.hire_date)
    )
    wins = or_(
        new.precedence > old.precedence,
        and_(
            new.precedence == old.precedence,
            or_(later_hire, and_(same_hire, new.line < old.line)),
        ),
    )
    columns = (
        "status",
        "department",
        sealed.MANAGER.column,
        "classification",
        "country",
        "hire_date",
        "line",
        "precedence",
    )
    values: dict[str, Any] = {name: case((wins, new[name]), else_=old[name]) for name in columns}
    for name in (sealed.EMAIL.column, sealed.INDEX):
        values[name] = case(
            (wins, func.coalesce(new[name], old[name])), else_=func.coalesce(old[name], new[name])
        )
    merged: Executable = stmt.on_conflict_do_update(
        index_elements=["roster_id", "employee_id"],
        set_=values,
        where=or_(wins, and_(old[sealed.INDEX].is_(None), new[sealed.INDEX].is_not(None))),
    )
    return merged


def active_workers(session: Session, import_id: uuid.UUID) -> int:
    """How many active workers the roster an import fills (or filled) lists."""
    return (
        session.scalar(
            select(func.count())
            .select_from(RosterEntry)
            .join(Roster, Roster.id == RosterEntry.roster_id)
            .where(Roster.import_id == import_id, RosterEntry.status == WorkerStatus.active)
        )
        or 0
    )


def discard(session: Session, organization_id: uuid.UUID, import_id: uuid.UUID) -> int:
    """Delete the roster an import was filling and its entries, when it is not to become the
    latest (its import was refused); answers the entries deleted. A completed roster is never
    discarded."""
    found = session.scalar(
        select(Roster.id).where(
            Roster.organization_id == organization_id,
            Roster.import_id == import_id,
            Roster.completed_at.is_(None),
        )
    )
    if found is None:
        return 0
    deleted = _deleted(
        session.execute(
            delete(RosterEntry).where(
                RosterEntry.organization_id == organization_id, RosterEntry.roster_id == found
            )
        )
    )
    session.execute(delete(Roster).where(Roster.id == found))
    return deleted


def latest(session: Session, organization_id: uuid.UUID) -> Roster | None:
    """The newest completed roster (cached for the unit of work)."""
    cache: dict[uuid.UUID, Roster | None] = session.info.setdefault(_LATEST, {})
    if organization_id not in cache:
        cache[organization_id] = session.scalar(
            select(Roster)
            .where(Roster.organization_id == organization_id, Roster.completed_at.is_not(None))
            .order_by(Roster.completed_at.desc(), Roster.id.desc())
            .limit(1)
        )
    return cache[organization_id]


def find(
    session: Session, roster: Roster, external_id: str, email: str | None
) -> RosterEntry | None:
    """The learner's entry: by employee id, else by email (any case, its blind index)."""
    match = RosterEntry.employee_id == external_id
    if email:
        match = or_(
            match, sealed.where_email(RosterEntry.email_index, crypto.ring_of(session), [email])
        )
    rows = list(
        session.scalars(select(RosterEntry).where(RosterEntry.roster_id == roster.id, match))
    )
    by_id = [r for r in rows if r.employee_id == external_id]
    found = by_id or rows
    return found[0] if found else None


def complete(
    session: Session, organization_id: uuid.UUID, roster_id: uuid.UUID, actor: str
) -> tuple[int, int]:
    """Make this roster the latest; fill learner fields; re-check rewards held off it.

    Answers (learners filled, rewards released).
    """
    now = utcnow()
    entries = session.scalar(
        select(func.count()).select_from(RosterEntry).where(RosterEntry.roster_id == roster_id)
    )
    session.execute(
        update(Roster)
        .where(Roster.id == roster_id, Roster.completed_at.is_(None))
        .values(completed_at=now, entries=entries)
    )
    roster = session.get(Roster, roster_id)
    assert roster is not None
    session.info.setdefault(_LATEST, {})[organization_id] = roster
    filled = _fill_known(session, organization_id, roster, actor)
    audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="roster:roster:complete",
        target_type="roster",
        target_id=roster_id,
        details={"entries": entries, "learners_filled": filled},
    )
    from laurel.programs import service as programs  # noqa: PLC0415 - programs → rewards → gates
    from laurel.rewards import service as rewards  # noqa: PLC0415

    released = 0
    for program in programs.snapshot(session, organization_id).programs:
        released += rewards.release_held(session, organization_id, program.id, NOT_ON_ROSTER, actor)
    return filled, released


@dataclass(frozen=True, slots=True)
class Pruned:
    rosters: int = 0
    entries: int = 0
    import_ids: tuple[uuid.UUID, ...] = ()
    """The imports the pruned rosters came from (their rejected lines go too)."""


def prune(session: Session, organization_id: uuid.UUID, *, keep: int, actor: str) -> Pruned:
    """Delete completed rosters older than the ``keep`` newest, with their entries.

    The newest completed roster is always kept (``keep`` >= 1), so the gate and ``not_on_roster``
    re-checks, which read only the latest, answer as before. Rosters still being filled are
    never touched: an import may resume them. Rows are locked (``SKIP LOCKED``), so two
    sweeps at once delete each roster once.
    """
    if keep < 1:
        raise ValueError("keep at least the latest roster")
    newest = select(Roster.id).where(
        Roster.organization_id == organization_id, Roster.completed_at.is_not(None)
    )
    kept = list(
        session.scalars(newest.order_by(Roster.completed_at.desc(), Roster.id.desc()).limit(keep))
    )
    if len(kept) < keep:
        return Pruned()
    old = list(
        session.execute(
            select(Roster.id, Roster.import_id)
            .where(
                Roster.organization_id == organization_id,
                Roster.completed_at.is_not(None),
                Roster.id.not_in(kept),
            )
            .order_by(Roster.id)
            .with_for_update(skip_locked=True)
        )
    )
    oldest_kept = session.scalar(select(func.min(Roster.completed_at)).where(Roster.id.in_(kept)))
    # A refused roster import (too many rows rejected) left no roster, only its rejected
    # lines: they go once it is older than every roster kept, as a pruned roster's do.
    refused = list(
        session.scalars(
            select(Import.id).where(
                Import.organization_id == organization_id,
                Import.kind == ImportKind.roster,
                Import.status == ImportStatus.failed,
                Import.created_at < oldest_kept,
            )
        )
    )
    if not old:
        return Pruned(import_ids=tuple(refused))
    ids = [roster_id for roster_id, _ in old]
    entries = 0
    for part in chunks(ids):
        entries += _deleted(
            session.execute(
                delete(RosterEntry).where(
                    RosterEntry.organization_id == organization_id,
                    RosterEntry.roster_id.in_(part),
                )
            )
        )
        session.execute(delete(Roster).where(Roster.id.in_(part)))
    session.info.pop(_LATEST, None)
    audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="roster:roster:prune",
        target_type="organization",
        target_id=organization_id,
        details={
            "keep": keep,
            "rosters": [str(i) for i in ids],
            "entries_deleted": entries,
        },
    )
    return Pruned(len(ids), entries, (*(import_id for _, import_id in old), *refused))


def _deleted(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _fill_known(session: Session, organization_id: uuid.UUID, roster: Roster, actor: str) -> int:
    """Fill department, manager and classification of learners the roster names."""
    filled = 0
    last: uuid.UUID | None = None
    while True:
        query = (
            select(Learner)
            .where(Learner.organization_id == organization_id)
            .order_by(Learner.id)
            .limit(500)
        )
        if last is not None:
            query = query.where(Learner.id > last)
        batch = list(session.scalars(query))
        if not batch:
            return filled
        last = batch[-1].id
        found = _matching(
            session, roster, [(learner.external_id, learner.email) for learner in batch]
        )
        for learner in batch:
            entry = found.get(learner.external_id)
            if entry is not None and _fill(session, learner, entry, actor):
                filled += 1


def _matching(
    session: Session, roster: Roster, people: list[tuple[str, str | None]]
) -> dict[str, RosterEntry]:
    """The entry of each (external id, email) found on ``roster``: by employee id, else by
    email (through its blind index: no entry is decrypted to match); one query."""
    ring = crypto.ring_of(session)
    ids = [ext for ext, _ in people]
    emails = [email for _, email in people if email]
    match: ColumnElement[bool] = RosterEntry.employee_id.in_(ids)
    if emails:
        match = or_(match, sealed.where_email(RosterEntry.email_index, ring, emails))
    rows = list(
        session.scalars(select(RosterEntry).where(RosterEntry.roster_id == roster.id, match))
    )
    by_id = {r.employee_id: r for r in rows}
    by_index: dict[str, RosterEntry] = {}
    for r in rows:
        if r.email_index:
            by_index.setdefault(r.email_index, r)
    found: dict[str, RosterEntry] = {}
    for ext, email in people:
        entry = by_id.get(ext)
        if entry is None and email:
            entry = next((by_index[i] for i in sealed.indexes(ring, email) if i in by_index), None)
        if entry is not None:
            found[ext] = entry
    return found


def _fill(session: Session, learner: Learner, entry: RosterEntry, actor: str) -> bool:
    return bool(
        learners.fill_missing(
            session,
            learner,
            department=entry.department,
            manager=entry.manager,
            classification=entry.classification,
            actor=actor,
            source="roster",
        )
    )


def entries_for(
    session: Session, organization_id: uuid.UUID, people: list[tuple[str, str | None]]
) -> dict[str, dict[str, Any]]:
    """What the latest roster says of these learners (external id, email): by employee id,
    else by email; one query for all of them."""
    roster = latest(session, organization_id)
    if roster is None or not people:
        return {}
    return {
        ext: {
            "department": entry.department,
            # Opened here: the learner's own copy is sealed under the learner's key.
            "manager": entry.manager,
            "classification": entry.classification,
        }
        for ext, entry in _matching(session, roster, people).items()
    }


def fill_new_learner(session: Session, learner: Learner, actor: str) -> None:
    """A learner seen for the first time takes what the latest roster knows and the LMS did
    not send."""
    roster = latest(session, learner.organization_id)
    if roster is None:
        return
    entry = find(session, roster, learner.external_id, learner.email)
    if entry is not None:
        _fill(session, learner, entry, actor)
