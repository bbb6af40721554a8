"""Rosters: storing a snapshot, finding a learner on the latest one, filling learner fields.

A roster becomes the latest only when its whole file is in (``completed_at``); until then the
previous one keeps answering, so a half-read roster never holds or releases anyone.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.kit import crypto
from laurel.kit.clock import utcnow
from laurel.kit.ids import uuid7
from laurel.kit.observe import chunks
from laurel.kit.sql import insert_ignore
from laurel.learners import service as learners
from laurel.learners.models import Learner
from laurel.roster import sealed
from laurel.roster.models import Roster, RosterEntry

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


def add(
    session: Session, organization_id: uuid.UUID, roster_id: uuid.UUID, entries: Sequence[RosterRow]
) -> list[int]:
    """Store entries (email and manager sealed); answers the lines whose employee id this
    roster already had."""
    duplicates = []
    now = utcnow()
    ring = crypto.ring_of(session)
    for e in entries:
        inserted = insert_ignore(
            session,
            RosterEntry.__table__,  # type: ignore[arg-type]
            {
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
            },
            ["roster_id", "employee_id"],
        )
        if not inserted:
            duplicates.append(e.line)
    return duplicates


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
    if not old:
        return Pruned()
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
    return Pruned(len(ids), entries, tuple(import_id for _, import_id in old))


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
