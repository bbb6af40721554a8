"""The scheduled privacy sweep: request reminders and retention, beside the worker.

Retention includes HR rosters: only the newest ``roster_keep`` completed rosters of an
organization are kept (the latest is what the roster gate reads); older ones, their entries
and the rejected lines of their imports are deleted.

Each organization's retention runs in its own transactions of at most a few hundred learners,
so a long backlog never holds locks for long; reminders mark each request once a day, so
several workers sweeping at once remind each request once.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime

from laurel.db import Database
from laurel.imports import service as imports
from laurel.kit.clock import utcnow
from laurel.privacy import retention, service
from laurel.roster import service as roster

log = logging.getLogger("laurel.privacy")
BATCH = 200


ROSTER_KEEP = 3
"""HR rosters kept per organization when the caller does not say (``LAUREL_ROSTER_KEEP``)."""


@dataclass
class Totals:
    pseudonymised: int = 0
    financial_deleted: int = 0
    rosters_pruned: int = 0
    roster_entries_deleted: int = 0


def prune_rosters(
    database: Database, organization_id: uuid.UUID, *, keep: int, actor: str, totals: Totals
) -> None:
    """Older HR rosters go with their rejected lines, in one transaction per organization."""
    with database.session() as session:
        pruned = roster.prune(session, organization_id, keep=keep, actor=actor)
        if pruned.import_ids:
            imports.forget_rejections(session, organization_id, pruned.import_ids)
    totals.rosters_pruned += pruned.rosters
    totals.roster_entries_deleted += pruned.entries


def retention_all(
    database: Database,
    *,
    now: datetime,
    actor: str,
    only: uuid.UUID | None = None,
    roster_keep: int = ROSTER_KEEP,
) -> Totals:
    totals = Totals()
    with database.read_session() as session:
        organizations = [only] if only else retention.organizations(session)
    for organization_id in organizations:
        prune_rosters(database, organization_id, keep=roster_keep, actor=actor, totals=totals)
        while True:
            with database.session() as session:
                report = retention.run(session, organization_id, now=now, actor=actor, limit=BATCH)
            totals.pseudonymised += len(report.pseudonymised)
            totals.financial_deleted += len(report.financial_deleted)
            if len(report.pseudonymised) < BATCH and len(report.financial_deleted) < BATCH:
                break
    return totals


def sweep_once(database: Database, *, roster_keep: int = ROSTER_KEEP) -> None:
    now = utcnow()
    with database.session() as session:
        service.remind(session, now=now)
    totals = retention_all(database, now=now, actor="worker", roster_keep=roster_keep)
    if totals.pseudonymised or totals.financial_deleted or totals.rosters_pruned:
        log.info(
            "retention: %d learner(s) pseudonymised, %d financial record set(s) deleted, "
            "%d roster(s) pruned",
            totals.pseudonymised,
            totals.financial_deleted,
            totals.rosters_pruned,
        )


def start_scheduler(
    database: Database, interval: float, *, roster_keep: int = ROSTER_KEEP
) -> tuple[threading.Thread, threading.Event]:
    """Sweep every ``interval`` seconds in a daemon thread until the event is set."""
    stop = threading.Event()

    def _run() -> None:
        while not stop.is_set():
            try:
                sweep_once(database, roster_keep=roster_keep)
            except Exception:  # the schedule must outlive a bad round; the next one retries
                log.exception("privacy sweep failed")
            stop.wait(interval)

    thread = threading.Thread(target=_run, daemon=True, name="laurel-privacy")
    thread.start()
    return thread, stop
