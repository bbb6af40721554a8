"""The worker's email loop: claim due outbox rows, compose them, hand them to SMTP.

Each pass is three short steps: claim (a write transaction that leases rows), compose (a read),
then one SMTP conversation per message, each settled in its own small transaction. Nothing is
held open while a server answers.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from sqlalchemy.orm import Session

from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.service import backoff_seconds
from laurel.metrics import EMAILS
from laurel.notifications import compose, service
from laurel.notifications.mailer import (
    MailError,
    PermanentMailError,
    SmtpMailer,
    TransientMailError,
    build_message,
)

log = logging.getLogger("laurel.notifications")


class EmailSender:
    signal = service.OUTBOX_SIGNAL
    """The unit-of-work flag that says a commit wrote rows for this sender."""

    def __init__(
        self, database: Database, settings: Settings, mailer: SmtpMailer | None = None
    ) -> None:
        self.database = database
        self.settings = settings
        self.mailer = mailer or SmtpMailer(settings)
        self._pool: ThreadPoolExecutor | None = None

    @property
    def lease_seconds(self) -> float:
        # The lease must outlast the slowest pass (every message of a chunk timing out, one
        # after the other), or a second worker could send a row the first is still sending.
        per_chunk = -(-self.settings.worker_batch_size // self.settings.worker_concurrency)
        slowest = self.settings.smtp_timeout_seconds * (per_chunk + 1) + 5
        return max(self.settings.worker_lease_seconds, slowest)

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
            with self.database.session() as session:
                for item in claimed:
                    self._retry_or_fail(session, item, f"compose: {type(exc).__name__}: {exc}")
            return len(claimed)
        work = [c for c in composed if isinstance(c, compose.Composed)]
        skipped = [c for c in composed if isinstance(c, compose.Skipped)]
        # One SMTP conversation per chunk, the chunks side by side.
        parallel = max(1, min(self.settings.worker_concurrency, len(work)))
        chunks = [work[i::parallel] for i in range(parallel)] if work else []
        if len(chunks) > 1:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.settings.worker_concurrency, thread_name_prefix="laurel-smtp"
                )
            results = list(self._pool.map(self._send_chunk, chunks))
        else:
            results = [self._send_chunk(chunk) for chunk in chunks]
        self._record([pair for chunk in results for pair in chunk], skipped)
        return len(claimed)

    def _send_chunk(
        self, chunk: list[compose.Composed]
    ) -> list[tuple[compose.Composed, MailError | None]]:
        try:
            outcomes = self.mailer.send_many(
                [build_message(item.envelope, item.rendered) for item in chunk]
            )
        except Exception as exc:  # a bug must not kill the loop; the rows are retried
            log.exception("unexpected error sending %d emails", len(chunk))
            failure = TransientMailError(f"unexpected {type(exc).__name__}: {exc}")
            outcomes = [failure] * len(chunk)
        return list(zip(chunk, outcomes, strict=True))

    def _record(
        self,
        results: list[tuple[compose.Composed, MailError | None]],
        skipped: list[compose.Skipped],
    ) -> None:
        """Every outcome of the pass in one transaction: one commit, not one per email."""
        with self.database.session() as session:
            for item, outcome in results:
                if outcome is None:
                    service.record_sent(
                        session, item.claimed, item.envelope.to, item.rendered.locale
                    )
                    EMAILS.labels("sent").inc()
                elif isinstance(outcome, PermanentMailError):
                    log.warning("email %s refused: %s", item.claimed.id, outcome)
                    service.record_failed(session, item.claimed.id, str(outcome))
                    EMAILS.labels("failed").inc()
                else:
                    log.warning("email %s: %s", item.claimed.id, outcome)
                    self._retry_or_fail(session, item.claimed, str(outcome))
            for skip in skipped:
                service.record_skipped(session, skip.claimed.id, skip.reason)
                EMAILS.labels("skipped").inc()

    def _retry_or_fail(self, session: Session, item: service.Claimed, error: str) -> None:
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
