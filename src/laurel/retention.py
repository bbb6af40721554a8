"""Retention of the outboxes: settled emails and webhook messages do not stay forever.

Sent emails and delivered webhook messages carry personal data (an address, a learner's and a
course's ids, amounts). After ``LAUREL_EMAIL_BODY_RETENTION_DAYS`` /
``LAUREL_WEBHOOK_BODY_RETENTION_DAYS`` (30 by default) a settled row keeps only its log
metadata (template or event type, status, attempts, times, errors); after the log retention
(``LAUREL_EMAIL_LOG_RETENTION_DAYS``, 365; ``LAUREL_WEBHOOK_LOG_RETENTION_DAYS``, 90) it is
deleted, a webhook message with its attempt log. Pending and in-flight rows are never touched.

The worker runs :func:`purge` every ``LAUREL_OUTBOX_PURGE_SECONDS``; ``laurel outbox purge``
runs it once (from cron, or after changing a retention). Batches are short transactions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import typer

from laurel.config import Settings
from laurel.db import Database
from laurel.kit.clock import utcnow
from laurel.notifications import service as notifications
from laurel.webhooks import service as webhooks

log = logging.getLogger("laurel.retention")
BATCH = 1000


@dataclass(slots=True)
class Purged:
    emails_emptied: int = 0
    emails_deleted: int = 0
    webhooks_emptied: int = 0
    webhooks_deleted: int = 0

    @property
    def total(self) -> int:
        return (
            self.emails_emptied
            + self.emails_deleted
            + self.webhooks_emptied
            + self.webhooks_deleted
        )


def purge(database: Database, settings: Settings, *, now: datetime | None = None) -> Purged:
    """Apply the retention settings to both outboxes, batch by batch, until nothing is due."""
    now = now or utcnow()
    done = Purged()
    while True:
        with database.session() as session:
            emptied, deleted = notifications.purge(
                session,
                body_before=now - timedelta(days=settings.email_body_retention_days),
                log_before=now - timedelta(days=settings.email_log_retention_days),
                now=now,
                limit=BATCH,
            )
        done.emails_emptied += emptied
        done.emails_deleted += deleted
        if emptied < BATCH and deleted < BATCH:
            break
    while True:
        with database.session() as session:
            emptied, deleted = webhooks.purge(
                session,
                body_before=now - timedelta(days=settings.webhook_body_retention_days),
                log_before=now - timedelta(days=settings.webhook_log_retention_days),
                now=now,
                limit=BATCH,
            )
        done.webhooks_emptied += emptied
        done.webhooks_deleted += deleted
        if emptied < BATCH and deleted < BATCH:
            break
    if done.total:
        log.info("outbox retention: %s", done)
    return done


outbox_app = typer.Typer(help="The email and webhook outboxes.", no_args_is_help=True)


@outbox_app.command("purge")
def outbox_purge() -> None:
    """Empty and delete settled emails and webhook messages past their retention."""
    from laurel.cli import _database  # noqa: PLC0415 - the CLI's own helpers
    from laurel.config import get_settings  # noqa: PLC0415

    done = purge(_database(), get_settings())
    typer.echo(
        f"emails: {done.emails_emptied} emptied, {done.emails_deleted} deleted; "
        f"webhook messages: {done.webhooks_emptied} emptied, {done.webhooks_deleted} deleted"
    )
