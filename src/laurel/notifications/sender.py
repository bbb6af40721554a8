"""The worker's email loop: claim due outbox rows, compose them, hand them to SMTP.

Each pass is three short steps: claim (a write transaction that leases rows), compose (a read),
then one SMTP conversation per message, each settled in its own small transaction. Nothing is
held open while a server answers.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.service import backoff_seconds
from laurel.metrics import EMAILS
from laurel.notifications import compose, service
from laurel.notifications.mailer import (
    PermanentMailError,
    SmtpMailer,
    TransientMailError,
    build_message,
)

log = logging.getLogger("laurel.notifications")


class EmailSender:
    def __init__(
        self, database: Database, settings: Settings, mailer: SmtpMailer | None = None
    ) -> None:
        self.database = database
        self.settings = settings
        self.mailer = mailer or SmtpMailer(settings)
        self._pool: ThreadPoolExecutor | None = None

    @property
    def lease_seconds(self) -> float:
        # A lease shorter than one SMTP conversation could let a second worker send the same
        # row while the first is still talking to the server.
        return max(self.settings.worker_lease_seconds, 2 * self.settings.smtp_timeout_seconds + 5)

    def run_once(self) -> int:
        """Send one batch of due emails; answers how many rows were handled."""
        with self.database.session() as session:
            claimed = service.claim(
                session, limit=self.settings.worker_batch_size, lease_seconds=self.lease_seconds
            )
        if not claimed:
            return 0
        try:
            with self.database.read_session() as session:
                composed = compose.compose(session, self.settings, claimed)
        except Exception as exc:  # a template or data bug: retry later, keep the worker alive
            log.exception("cannot compose %d emails", len(claimed))
            for item in claimed:
                self._retry_or_fail(item, f"compose: {type(exc).__name__}: {exc}")
            return len(claimed)
        work = [c for c in composed if isinstance(c, compose.Composed)]
        for skipped in (c for c in composed if isinstance(c, compose.Skipped)):
            with self.database.session() as session:
                service.record_skipped(session, skipped.claimed.id, skipped.reason)
            EMAILS.labels("skipped").inc()
        parallel = min(self.settings.worker_concurrency, len(work))
        if parallel > 1:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.settings.worker_concurrency, thread_name_prefix="laurel-smtp"
                )
            list(self._pool.map(self._send, work))
        else:
            for one in work:
                self._send(one)
        return len(claimed)

    def _send(self, item: compose.Composed) -> None:
        try:
            self.mailer.send(build_message(item.envelope, item.rendered))
        except TransientMailError as exc:
            log.warning("email %s: %s", item.claimed.id, exc)
            self._retry_or_fail(item.claimed, str(exc))
            return
        except PermanentMailError as exc:
            log.warning("email %s refused: %s", item.claimed.id, exc)
            with self.database.session() as session:
                service.record_failed(session, item.claimed.id, str(exc))
            EMAILS.labels("failed").inc()
            return
        except Exception as exc:  # a bug must not kill the loop; the row is retried
            log.exception("email %s: unexpected error", item.claimed.id)
            self._retry_or_fail(item.claimed, f"unexpected {type(exc).__name__}: {exc}")
            return
        with self.database.session() as session:
            service.record_sent(session, item.claimed.id, item.envelope.to, item.rendered.locale)
        EMAILS.labels("sent").inc()

    def _retry_or_fail(self, item: service.Claimed, error: str) -> None:
        with self.database.session() as session:
            if item.attempts >= self.settings.email_max_attempts:
                service.record_failed(session, item.id, f"gave up after {item.attempts}: {error}")
                EMAILS.labels("failed").inc()
                return
            delay = backoff_seconds(
                item.attempts,
                self.settings.worker_backoff_base_seconds,
                self.settings.worker_backoff_max_seconds,
                None,
            )
            service.record_retry(session, item.id, error, delay)
        EMAILS.labels("retried").inc()

    def due_at(self) -> datetime | None:
        with self.database.read_session() as session:
            return service.due_at(session)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
