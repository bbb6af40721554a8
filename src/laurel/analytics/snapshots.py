"""Reports too costly to count per page view, kept with the time they were computed.

Two reports read every learning pair of their window and no rollup can answer them: a
program's lift (months of pairs and the same span before the program) and the completion rates
the rollups cannot answer (ISO weeks, windows off month bounds). At 50,000 learners each costs
seconds, for numbers that move slowly. So they are stored (``analytics_snapshots``) and
answered from there while fresh, labelled with their ``computed_at``, like any analytics
product's "updated 2 minutes ago".

A snapshot is keyed by the report's name and its parameters, the scope included: the whole
organization, or a department manager's departments (a manager's numbers never come from the
organization's snapshot, nor from another manager's). A caller narrowed to one learner is
never stored: those reports read one learner and are computed on each request.

A snapshot is fresh while it is younger than ``report_refresh_seconds`` and the
organization's ``config_revision`` is the one read before it was computed: every change to a
program or a rule gives the organization a fresh revision (``programs.service``), so a changed
program is never answered from a snapshot of its old settings. Other configuration changes
(budgets, tax) give a fresh revision too; they only cost one recomputation.

A reader that finds no fresh snapshot computes the report in a read transaction (on SQLite it
must not hold the write lock for seconds) and stores it in a short write one; of two
computations racing, the newer is kept. The worker recomputes the snapshots readers asked for
within :data:`KEEP_WARM` before they go stale (:func:`due`), so the readers of the reports in
use rarely compute; a report nobody reads is left for its next reader.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from laurel.analytics import reports
from laurel.analytics.models import ReportSnapshot
from laurel.db import Database
from laurel.kit.actor import Actor
from laurel.kit.canonical import canonical_json
from laurel.kit.clock import utcnow
from laurel.kit.errors import NotFound
from laurel.learners import service as learners
from laurel.organizations import revision
from laurel.organizations.models import Organization

EARLY = 0.75
"""The worker refreshes a snapshot once it is this share of ``report_refresh_seconds`` old, so
it is renewed before readers would find it stale."""
KEEP_WARM = timedelta(days=7)
"""The worker keeps fresh only snapshots read within this long: an organization with many
programs and views nobody looks at would otherwise pay seconds of counting for each every few
minutes, for nothing. A snapshot not read lately is recomputed by its next reader."""
READ_MARK = timedelta(hours=1)
"""A reader marks a snapshot read when its mark is older than this: one small write an hour at
most, not one per page view."""

LIFT = "lift"
COMPLETION_RATES = "completion_rates"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One report as computed, and when."""

    result: dict[str, Any]
    """The report's answer, unchanged (the rates as ``{"rows": [...]}``)."""
    computed_at: datetime
    config_revision: int
    read_at: datetime | None = None
    """When a reader last asked for it (None: not stored yet)."""


@dataclass(frozen=True, slots=True)
class Target:
    """One stored report: whose, in which mode, which report with which parameters."""

    organization_id: uuid.UUID
    livemode: bool
    report: str
    key: str

    @property
    def params(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.key)
        return found


def lift_params(program_id: uuid.UUID, departments: frozenset[str] | None) -> dict[str, Any]:
    """The parameters of a program's lift, for the whole organization (``departments`` None)
    or a department manager's departments."""
    return {"program_id": str(program_id), "departments": _departments(departments)}


def rates_params(
    *,
    by: str,
    period: str,
    start: datetime | None,
    end: datetime | None,
    departments: frozenset[str] | None,
) -> dict[str, Any]:
    """The parameters of a completion-rates report (see :func:`reports.completion_rates`)."""
    return {
        "by": by,
        "period": period,
        "start": start.isoformat() if start else None,
        "end": end.isoformat() if end else None,
        "departments": _departments(departments),
    }


def _departments(departments: frozenset[str] | None) -> list[str] | None:
    return sorted(departments) if departments is not None else None


def _scope(organization_id: uuid.UUID, params: dict[str, Any]) -> Select[Any] | None:
    """The learners the stored scope sees: a department manager's (the same rule the routes
    apply, ``learners.visible_ids``), or None for the whole organization."""
    departments = params.get("departments")
    if departments is None:
        return None
    manager = Actor("reports", organization_id, departments=frozenset(departments))
    return learners.visible_ids(manager)


def _lift(
    session: Session,
    organization_id: uuid.UUID,
    livemode: bool,
    params: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    return reports.lift(
        session,
        organization_id,
        livemode,
        uuid.UUID(params["program_id"]),
        as_of=now,
        learners_in=_scope(organization_id, params),
    )


def _rates(
    session: Session,
    organization_id: uuid.UUID,
    livemode: bool,
    params: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    departments = params.get("departments")
    start, end = params.get("start"), params.get("end")
    rows = reports.completion_rates(
        session,
        organization_id,
        livemode,
        by=params["by"],
        period=params["period"],
        start=datetime.fromisoformat(start) if start else None,
        end=datetime.fromisoformat(end) if end else None,
        learners_in=_scope(organization_id, params),
        departments=frozenset(departments) if departments is not None else None,
    )
    return {"rows": rows}


Compute = Callable[[Session, uuid.UUID, bool, dict[str, Any], datetime], dict[str, Any]]
REPORTS: dict[str, Compute] = {LIFT: _lift, COMPLETION_RATES: _rates}


def key_of(params: dict[str, Any]) -> str:
    """The stored key of a report's parameters: one text for equal parameters."""
    return canonical_json(params)


def compute(
    session: Session,
    organization_id: uuid.UUID,
    livemode: bool,
    report: str,
    params: dict[str, Any],
    now: datetime,
) -> Snapshot:
    """The report as of ``now``, not stored.

    The revision is read first: a change committed while the report is counted then leaves the
    snapshot stale rather than labelled with a revision it never saw. Raises what the report
    raises (``NotFound`` for an unknown program)."""
    seen = revision.current(session, organization_id) or 0
    result = REPORTS[report](session, organization_id, livemode, params, now)
    return Snapshot(result=result, computed_at=now, config_revision=seen)


def store(session: Session, target: Target, snapshot: Snapshot, *, read: bool) -> None:
    """Insert or replace the snapshot; an older computation never replaces a newer one (two
    readers, or a reader and the worker, computing at once). ``read``: a reader asked for it
    (marks it read; the worker's refreshes do not, or it would keep itself busy)."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(ReportSnapshot).values(
        organization_id=target.organization_id,
        livemode=target.livemode,
        report=target.report,
        key=target.key,
        computed_at=snapshot.computed_at,
        config_revision=snapshot.config_revision,
        result=snapshot.result,
        read_at=snapshot.computed_at,
    )
    table = ReportSnapshot.__table__
    changes = {
        "computed_at": statement.excluded.computed_at,
        "config_revision": statement.excluded.config_revision,
        "result": statement.excluded.result,
    }
    if read:
        changes["read_at"] = statement.excluded.read_at
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["organization_id", "livemode", "report", "key"],
            set_=changes,
            where=table.c.computed_at <= statement.excluded.computed_at,
        )
    )


def _here(target: Target) -> list[Any]:
    return [
        ReportSnapshot.organization_id == target.organization_id,
        ReportSnapshot.livemode == target.livemode,
        ReportSnapshot.report == target.report,
        ReportSnapshot.key == target.key,
    ]


def read(session: Session, target: Target) -> Snapshot | None:
    """The stored snapshot, fresh or not (see :func:`is_fresh`)."""
    row = session.execute(
        select(
            ReportSnapshot.result,
            ReportSnapshot.computed_at,
            ReportSnapshot.config_revision,
            ReportSnapshot.read_at,
        ).where(*_here(target))
    ).first()
    if row is None:
        return None
    return Snapshot(result=row[0], computed_at=row[1], config_revision=int(row[2]), read_at=row[3])


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


def serve(
    database: Database,
    target: Target,
    *,
    now: datetime,
    max_age_seconds: float,
    fresh: bool = False,
) -> tuple[Snapshot, bool]:
    """The report to answer a reader with, and whether it was read from the store.

    The stored snapshot when it is fresh (and ``fresh`` is not asked; marked read at most
    every :data:`READ_MARK`); otherwise computed as of ``now`` in a read transaction and stored
    in a short write one. ``max_age_seconds`` 0: computed every time, nothing stored."""
    params = target.params
    with database.read_session() as session:
        found = None if fresh or max_age_seconds <= 0 else read(session, target)
        if found is not None and is_fresh(
            session, target.organization_id, found, now=now, max_age_seconds=max_age_seconds
        ):
            stored = True
        else:
            found = compute(
                session, target.organization_id, target.livemode, target.report, params, now
            )
            stored = False
    if max_age_seconds <= 0:
        return found, False
    if not stored:
        with database.session() as session:
            store(session, target, found, read=True)
    elif found.read_at is None or now - found.read_at >= READ_MARK:
        with database.session() as session:
            session.execute(update(ReportSnapshot).where(*_here(target)).values(read_at=now))
    return found, stored


def due(session: Session, *, now: datetime, max_age_seconds: float, limit: int) -> list[Target]:
    """Snapshots the worker should compute again, oldest first, at most ``limit``: read within
    :data:`KEEP_WARM`, and older than :data:`EARLY` of the refresh age or computed at another
    configuration revision."""
    early = now - timedelta(seconds=max_age_seconds * EARLY)
    rows = session.execute(
        select(
            ReportSnapshot.organization_id,
            ReportSnapshot.livemode,
            ReportSnapshot.report,
            ReportSnapshot.key,
        )
        .join(Organization, Organization.id == ReportSnapshot.organization_id)
        .where(
            ReportSnapshot.read_at >= now - KEEP_WARM,
            or_(
                ReportSnapshot.computed_at <= early,
                ReportSnapshot.config_revision != Organization.config_revision,
            ),
        )
        .order_by(ReportSnapshot.computed_at)
        .limit(limit)
    ).all()
    return [Target(*row) for row in rows]


def still_due(session: Session, target: Target, *, now: datetime, max_age_seconds: float) -> bool:
    """Is ``target`` due still (another worker may have refreshed it since :func:`due`)?"""
    found = read(session, target)
    if found is None:
        return False  # gone (its program deleted): nothing to keep
    return not is_fresh(
        session, target.organization_id, found, now=now, max_age_seconds=max_age_seconds * EARLY
    )


def refresh(session: Session, target: Target, now: datetime) -> bool:
    """Compute the stored report again as of ``now`` and store it (one transaction); False
    when it can no longer be computed (its program is gone) and was dropped."""
    try:
        found = compute(
            session, target.organization_id, target.livemode, target.report, target.params, now
        )
    except NotFound:
        forget(session, target)
        return False
    store(session, target, found, read=False)
    return True


def renew(database: Database, target: Target, *, max_age_seconds: float) -> bool:
    """The worker's refresh of one :func:`due` report: computed in a read transaction and
    stored in a short write one, so the seconds of counting never hold SQLite's write lock.
    False when another worker renewed it since (or it was dropped: its program is gone)."""
    try:
        with database.read_session() as session:
            # Several workers sweep the same table: skip what another just refreshed.
            if not still_due(session, target, now=utcnow(), max_age_seconds=max_age_seconds):
                return False
            found = compute(
                session,
                target.organization_id,
                target.livemode,
                target.report,
                target.params,
                utcnow(),
            )
    except NotFound:
        with database.session() as session:
            forget(session, target)
        return False
    with database.session() as session:
        store(session, target, found, read=False)
    return True


def forget(session: Session, target: Target) -> None:
    """Drop a stored report that can no longer be computed (its program is gone)."""
    session.execute(delete(ReportSnapshot).where(*_here(target)))


def kept(session: Session, organization_id: uuid.UUID) -> list[Target]:
    """The organization's stored reports (what ``laurel analytics rebuild`` recomputes)."""
    rows = session.execute(
        select(
            ReportSnapshot.organization_id,
            ReportSnapshot.livemode,
            ReportSnapshot.report,
            ReportSnapshot.key,
        )
        .where(ReportSnapshot.organization_id == organization_id)
        .order_by(ReportSnapshot.report, ReportSnapshot.key)
    ).all()
    return [Target(*row) for row in rows]


def with_as_of(snapshot: Snapshot, *, stored: bool) -> dict[str, Any]:
    """The answer: the report's own fields, then ``computed_at`` and whether it was read from
    a stored snapshot (``snapshot``) rather than computed for this request."""
    return {
        **snapshot.result,
        "computed_at": snapshot.computed_at.isoformat(),
        "snapshot": stored,
    }
