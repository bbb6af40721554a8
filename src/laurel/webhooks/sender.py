"""The worker's webhook loop: claim due messages, sign them, POST them, log every attempt.

A message is signed anew for each attempt (the timestamp is the attempt's, as the
specification wants), with the same ``webhook-id`` and the same body bytes every time.
Redirects are not followed: a receiver that moved must be given its new URL.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import httpx

from laurel import __version__
from laurel.config import Settings
from laurel.db import Database
from laurel.kit.retry_after import retry_after as kit_retry_after
from laurel.metrics import WEBHOOK_ATTEMPTS
from laurel.webhooks import service, signing

log = logging.getLogger("laurel.webhooks")

_THROTTLE = {429, 502, 503, 504}


def retry_after(response: httpx.Response) -> float | None:
    """Seconds asked for in ``Retry-After`` (a number or an HTTP date) of a throttling answer,
    at most a day."""
    if response.status_code not in _THROTTLE:
        return None
    seconds = kit_retry_after(response, None)
    return None if seconds is None else min(seconds, 86400.0)


class WebhookSender:
    signal = service.OUTBOX_SIGNAL
    """The unit-of-work flag that says a commit wrote rows for this sender."""

    def __init__(
        self, database: Database, settings: Settings, client: httpx.Client | None = None
    ) -> None:
        self.database = database
        self.settings = settings
        self.box = service.secret_box(settings.secret_key)
        self.client = client or httpx.Client(
            timeout=httpx.Timeout(settings.webhook_timeout_seconds),
            follow_redirects=False,
            headers={"user-agent": f"Laurel-Webhooks/{__version__}"},
        )
        self._pool: ThreadPoolExecutor | None = None

    @property
    def lease_seconds(self) -> float:
        return max(
            self.settings.worker_lease_seconds, 2 * self.settings.webhook_timeout_seconds + 5
        )

    def run_once(self) -> int:
        with self.database.session() as session:
            claimed = service.claim(
                session, limit=self.settings.worker_batch_size, lease_seconds=self.lease_seconds
            )
        if len(claimed) > 1 and self.settings.worker_concurrency > 1:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.settings.worker_concurrency, thread_name_prefix="laurel-hook"
                )
            list(self._pool.map(self._deliver, claimed))
        else:
            for item in claimed:
                self._deliver(item)
        return len(claimed)

    def post(self, item: service.Claimed) -> service.Outcome:
        secret = self.box.open(item.secret_sealed)
        if secret is None:
            return service.Outcome(
                None, 0, error="the secret does not decrypt: LAUREL_SECRET_KEY changed"
            )
        body = item.body.encode()
        headers = signing.headers(secret, item.event_id, int(time.time()), body)
        headers["content-type"] = "application/json"
        started = time.perf_counter()
        try:
            response = self.client.post(item.url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            elapsed = int((time.perf_counter() - started) * 1000)
            return service.Outcome(None, elapsed, error=f"timeout: {type(exc).__name__}")
        except httpx.HTTPError as exc:
            elapsed = int((time.perf_counter() - started) * 1000)
            return service.Outcome(None, elapsed, error=f"{type(exc).__name__}: {exc}"[:1000])
        elapsed = int((time.perf_counter() - started) * 1000)
        return service.Outcome(
            response.status_code,
            elapsed,
            response_excerpt=response.text[: service.EXCERPT_CHARS] or None,
            retry_after=retry_after(response),
        )

    def _deliver(self, item: service.Claimed) -> None:
        try:
            outcome = self.post(item)
        except Exception as exc:  # a bug must not kill the loop; the message is retried
            log.exception("webhook %s: unexpected error", item.id)
            outcome = service.Outcome(None, 0, error=f"unexpected {type(exc).__name__}: {exc}")
        with self.database.session() as session:
            result = service.record_attempt(
                session, item, outcome, self.settings.webhook_retry_delays
            )
        WEBHOOK_ATTEMPTS.labels(result).inc()
        if result != "succeeded":
            log.info(
                "webhook %s to %s: %s (%s)",
                item.event_id,
                item.url,
                result,
                outcome.status_code or outcome.error,
            )

    def due_at(self) -> datetime | None:
        with self.database.read_session() as session:
            return service.due_at(session)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self.client.close()
