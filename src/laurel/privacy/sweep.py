"""The scheduled privacy sweep: request reminders and retention, beside the worker.

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
from laurel.kit.clock import utcnow
from laurel.privacy import retention, service

log = logging.getLogger("laurel.privacy")
BATCH = 200


@dataclass
class Totals:
    pseudonymised: int = 0
    financial_deleted: int = 0


def retention_all(
    database: Database, *, now: datetime, actor: str, only: uuid.UUID | None = None
) -> Totals:
    totals = Totals()
    with database.read_session() as session:
        organizations = [only] if only else retention.organizations(session)
    for organization_id in organizations:
        while True:
            with database.session() as session:
                report = retention.run(session, organization_id, now=now, actor=actor, limit=BATCH)
            totals.pseudonymised += len(report.pseudonymised)
            totals.financial_deleted += len(report.financial_deleted)
            if len(report.pseudonymised) < BATCH and len(report.financial_deleted) < BATCH:
                break
    return totals


def sweep_once(database: Database) -> None:
    now = utcnow()
    with database.session() as session:
        service.remind(session, now=now)
    totals = retention_all(database, now=now, actor="worker")
    if totals.pseudonymised or totals.financial_deleted:
        log.info(
            "retention: %d learner(s) pseudonymised, %d financial record set(s) deleted",
            totals.pseudonymised,
            totals.financial_deleted,
        )


def start_scheduler(
    database: Database, interval: float
) -> tuple[threading.Thread, threading.Event]:
    """Sweep every ``interval`` seconds in a daemon thread until the event is set."""
    stop = threading.Event()

    def _run() -> None:
        while not stop.is_set():
            try:
                sweep_once(database)
            except Exception:  # the schedule must outlive a bad round; the next one retries
                log.exception("privacy sweep failed")
            stop.wait(interval)

    thread = threading.Thread(target=_run, daemon=True, name="laurel-privacy")
    thread.start()
    return thread, stop
