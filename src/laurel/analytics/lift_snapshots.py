"""Each program's organization-wide lift report, kept with the time it was computed.

``reports.lift`` counts every learning pair of the program's window and the equally long
period before it: seconds at 50,000 learners, for a comparison over months that moves slowly.
So the report is stored (``analytics_lift_snapshots``) and answered from there while it is
fresh, labelled with its ``computed_at``, like any analytics product's "updated 2 minutes ago".

A snapshot is fresh while it is younger than ``lift_refresh_seconds`` and the organization's
``config_revision`` is the one read before it was computed: every change to a program or a
rule gives the organization a fresh revision (``programs.service``), so a changed program is
never answered from a snapshot of its old settings. Other configuration changes (budgets, tax)
give a fresh revision too; they only cost one recomputation.

The worker refreshes snapshots before they go stale (:func:`due`), so readers rarely compute.
Only the whole organization's lift is stored: a department manager's, narrowed to their
learners, reads only those and is computed on each request.

Computing and storing are apart on purpose: the API computes in a read transaction (on SQLite
it must not hold the write lock for seconds) and stores in a short write one. The store keeps
the newest computation when two race (:func:`store`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, exists, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from laurel.analytics import reports
from laurel.analytics.models import LiftSnapshot
from laurel.organizations import revision
from laurel.organizations.models import Organization
from laurel.programs.models import Program
from laurel.rewards.models import Reward

EARLY = 0.75
"""The worker refreshes a snapshot once it is this share of ``lift_refresh_seconds`` old, so
it is renewed before readers would find it stale."""
KEEP_WARM = timedelta(days=7)
"""The worker keeps fresh only snapshots read within this long: an organization with many
programs nobody looks at would otherwise pay seconds of counting per program every few
minutes, for nothing. A snapshot not read lately is recomputed by its next reader."""
READ_MARK = timedelta(hours=1)
"""A reader marks a snapshot read when its mark is older than this: one small write an hour at
most, not one per page view."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One program's lift report and what it was computed at."""

    result: dict[str, Any]
    """``reports.lift``'s answer, unchanged."""
    computed_at: datetime
    config_revision: int
    read_at: datetime | None = None
    """When a reader last asked for it (None: not stored yet)."""


@dataclass(frozen=True, slots=True)
class Target:
    """A program's lift in one mode."""

    organization_id: uuid.UUID
    livemode: bool
    program_id: uuid.UUID


def compute(
    session: Session,
    organization_id: uuid.UUID,
    livemode: bool,
    program_id: uuid.UUID,
    now: datetime,
) -> Snapshot:
    """``reports.lift`` as of ``now`` for the whole organization, not stored.

    The revision is read first: a change committed while the report is counted then leaves the
    snapshot stale rather than labelled with a revision it never saw. Raises ``NotFound`` for
    an unknown program."""
    seen = revision.current(session, organization_id) or 0
    result = reports.lift(session, organization_id, livemode, program_id, as_of=now)
    return Snapshot(result=result, computed_at=now, config_revision=seen)


def store(
    session: Session,
    organization_id: uuid.UUID,
    livemode: bool,
    program_id: uuid.UUID,
    snapshot: Snapshot,
    *,
    read: bool,
) -> None:
    """Insert or replace the program's snapshot; an older computation never replaces a newer
    one (two readers, or a reader and the worker, computing at once). ``read``: a reader asked
    for it (marks it read; the worker's refreshes do not, or it would keep itself busy)."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(LiftSnapshot).values(
        organization_id=organization_id,
        livemode=livemode,
        program_id=program_id,
        computed_at=snapshot.computed_at,
        config_revision=snapshot.config_revision,
        result=snapshot.result,
        read_at=snapshot.computed_at,
    )
    table = LiftSnapshot.__table__
    changes = {
        "computed_at": statement.excluded.computed_at,
        "config_revision": statement.excluded.config_revision,
        "result": statement.excluded.result,
    }
    if read:
        changes["read_at"] = statement.excluded.read_at
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["organization_id", "livemode", "program_id"],
            set_=changes,
            where=table.c.computed_at <= statement.excluded.computed_at,
        )
    )


def refresh(
    session: Session,
    organization_id: uuid.UUID,
    livemode: bool,
    program_id: uuid.UUID,
    now: datetime,
) -> Snapshot:
    """Compute the program's lift as of ``now`` and store it (one transaction)."""
    found = compute(session, organization_id, livemode, program_id, now)
    store(session, organization_id, livemode, program_id, found, read=False)
    return found


def read(
    session: Session, organization_id: uuid.UUID, livemode: bool, program_id: uuid.UUID
) -> Snapshot | None:
    """The stored snapshot, fresh or not (see :func:`is_fresh`)."""
    row = session.execute(
        select(
            LiftSnapshot.result,
            LiftSnapshot.computed_at,
            LiftSnapshot.config_revision,
            LiftSnapshot.read_at,
        ).where(
            LiftSnapshot.organization_id == organization_id,
            LiftSnapshot.livemode == livemode,
            LiftSnapshot.program_id == program_id,
        )
    ).first()
    if row is None:
        return None
    return Snapshot(result=row[0], computed_at=row[1], config_revision=int(row[2]), read_at=row[3])


def needs_mark(snapshot: Snapshot, *, now: datetime) -> bool:
    """Should a reader served this stored snapshot mark it read (:func:`mark_read`)?"""
    return snapshot.read_at is None or now - snapshot.read_at >= READ_MARK


def mark_read(
    session: Session,
    organization_id: uuid.UUID,
    livemode: bool,
    program_id: uuid.UUID,
    *,
    now: datetime,
) -> None:
    """Note that a reader asked for the snapshot, so the worker keeps it fresh."""
    session.execute(
        update(LiftSnapshot)
        .where(
            LiftSnapshot.organization_id == organization_id,
            LiftSnapshot.livemode == livemode,
            LiftSnapshot.program_id == program_id,
        )
        .values(read_at=now)
    )


def is_fresh(
    session: Session,
    organization_id: uuid.UUID,
    snapshot: Snapshot,
    *,
    now: datetime,
    max_age_seconds: float,
) -> bool:
    """Younger than ``max_age_seconds`` and computed at the organization's current
    configuration revision (no program or rule changed since)."""
    if now - snapshot.computed_at >= timedelta(seconds=max_age_seconds):
        return False
    return revision.current(session, organization_id) == snapshot.config_revision


def current(
    session: Session,
    organization_id: uuid.UUID,
    livemode: bool,
    program_id: uuid.UUID,
    *,
    now: datetime,
    max_age_seconds: float,
    fresh: bool = False,
) -> tuple[Snapshot, bool]:
    """The lift to answer and whether it was read from the store.

    The stored snapshot when it is fresh (and ``fresh`` is not asked); otherwise computed as
    of ``now``, for the caller to :func:`store` in its own write transaction."""
    if not fresh:
        found = read(session, organization_id, livemode, program_id)
        if found is not None and is_fresh(
            session, organization_id, found, now=now, max_age_seconds=max_age_seconds
        ):
            return found, True
    return compute(session, organization_id, livemode, program_id, now), False


def with_as_of(snapshot: Snapshot, *, stored: bool) -> dict[str, Any]:
    """The answer: the report's own fields, then ``computed_at`` and whether it was read from
    a stored snapshot (``snapshot``) rather than computed for this request."""
    return {
        **snapshot.result,
        "computed_at": snapshot.computed_at.isoformat(),
        "snapshot": stored,
    }


def due(session: Session, *, now: datetime, max_age_seconds: float, limit: int) -> list[Target]:
    """Programs whose lift the worker should compute, oldest first, at most ``limit``.

    Those with a snapshot read within :data:`KEEP_WARM` and older than :data:`EARLY` of the
    refresh age or computed at another configuration revision; then programs with rewards in a
    mode and no snapshot yet, counted once so that their first reader need not (a program
    nobody rewarded has nothing to compare and is computed on its first request)."""
    early = now - timedelta(seconds=max_age_seconds * EARLY)
    stale = session.execute(
        select(LiftSnapshot.organization_id, LiftSnapshot.livemode, LiftSnapshot.program_id)
        .join(Organization, Organization.id == LiftSnapshot.organization_id)
        .where(
            LiftSnapshot.read_at >= now - KEEP_WARM,
            or_(
                LiftSnapshot.computed_at <= early,
                LiftSnapshot.config_revision != Organization.config_revision,
            ),
        )
        .order_by(LiftSnapshot.computed_at)
        .limit(limit)
    ).all()
    found = [Target(*row) for row in stale]
    if len(found) >= limit:
        return found
    for livemode in (True, False):
        missing = session.execute(
            select(Program.organization_id, Program.id)
            .where(~_stored(livemode), _rewarded(livemode))
            .order_by(Program.organization_id, Program.id)
            .limit(limit - len(found))
        ).all()
        found += [Target(org, livemode, pid) for org, pid in missing]
        if len(found) >= limit:
            break
    return found


def still_due(session: Session, target: Target, *, now: datetime, max_age_seconds: float) -> bool:
    """Is ``target`` due still (another worker may have refreshed it since :func:`due`)?"""
    found = read(session, target.organization_id, target.livemode, target.program_id)
    if found is None:
        return True
    early = timedelta(seconds=max_age_seconds * EARLY)
    return (
        now - found.computed_at >= early
        or revision.current(session, target.organization_id) != found.config_revision
    )


def kept(session: Session, organization_id: uuid.UUID) -> list[Target]:
    """The organization's programs, per mode, whose lift is kept: those with a snapshot or
    with rewards (what the worker refreshes; ``laurel analytics rebuild`` recomputes them)."""
    found = []
    for livemode in (True, False):
        found += [
            Target(organization_id, livemode, pid)
            for pid in session.scalars(
                select(Program.id)
                .where(
                    Program.organization_id == organization_id,
                    or_(_stored(livemode), _rewarded(livemode)),
                )
                .order_by(Program.id)
            )
        ]
    return found


def _rewarded(livemode: bool) -> ColumnElement[bool]:
    """The program (``Program``, correlated) has rewards in the mode: one probe of the rewards'
    (organization, program, time) index."""
    return exists().where(
        Reward.organization_id == Program.organization_id,
        Reward.program_id == Program.id,
        Reward.livemode == livemode,
    )


def _stored(livemode: bool) -> ColumnElement[bool]:
    """The program (``Program``, correlated) has a snapshot in the mode."""
    return exists().where(
        LiftSnapshot.organization_id == Program.organization_id,
        LiftSnapshot.livemode == livemode,
        LiftSnapshot.program_id == Program.id,
    )
