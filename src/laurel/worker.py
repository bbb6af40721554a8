"""The issuance worker: claims ready rewards, calls providers, records what happened.

Several workers (threads or processes, on one or many machines) can run against one database:
on PostgreSQL claims use ``FOR UPDATE SKIP LOCKED`` so they never wait on each other, and they
wake on ``LISTEN laurel_rewards_ready``; on SQLite they take turns on the database lock and the
one in the API process is woken directly after each commit that readies a reward.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from laurel.config import Settings
from laurel.db import Database
from laurel.delivery import service as delivery
from laurel.delivery.providers import (
    Issued,
    PermanentProviderError,
    ProviderRegistry,
    TransientProviderError,
)
from laurel.delivery.providers.sandbox import SandboxProvider
from laurel.kit.clock import utcnow
from laurel.kit.faults import crash_point
from laurel.metrics import DELIVERY_LATENCY, PROVIDER_ERRORS
from laurel.points.provider import PointsProvider
from laurel.rewards.service import NOTIFY_CHANNEL, READY_SIGNAL

log = logging.getLogger("laurel.worker")


def _provider_for(item: delivery.Claim) -> str:
    # Test-mode rewards are created with the sandbox provider; this makes sure of it, so no
    # test event can ever reach a real provider, whatever its row says.
    # Points are Laurel's own ledger, kept apart per mode: test-mode points go there too.
    return item.provider if item.order.livemode or item.provider == "points" else "sandbox"


def default_providers(database: Database) -> ProviderRegistry:
    registry = ProviderRegistry()
    registry.add(SandboxProvider(database))
    registry.add(PointsProvider(database))
    return registry


@dataclass
class Worker:
    database: Database
    settings: Settings
    providers: ProviderRegistry
    wake: threading.Event = field(default_factory=threading.Event)
    _last_reconcile: float = 0.0
    _pool: ThreadPoolExecutor | None = None

    def attach(self) -> None:
        """Wake this worker when a commit in this process readies a reward."""

        def _hook(session: object) -> None:
            info = getattr(session, "info", {})
            if info.pop(READY_SIGNAL, False):
                self.wake.set()

        self.database.on_commit(_hook)

    # ------------------------------------------------------------ one pass

    def run_once(self) -> int:
        """Reconcile abandoned claims when due, then issue one batch. Returns rewards handled."""
        handled = 0
        if time.monotonic() - self._last_reconcile >= min(5.0, self.settings.worker_lease_seconds):
            handled += self.reconcile()
            self._last_reconcile = time.monotonic()
        with self.database.session() as session:
            claims = delivery.claim(
                session,
                limit=self.settings.worker_batch_size,
                lease_seconds=self.settings.worker_lease_seconds,
            )
        # Also on SQLite: measured (bench.latency, docs/performance.md), one issuing thread
        # loses the write lock to request threads under load and the backlog grows.
        parallel = self.settings.worker_concurrency
        if len(claims) > 1 and parallel > 1:
            # Providers answer in hundreds of milliseconds: call them side by side. Each call
            # records its own outcome, so one slow provider holds back nothing else.
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=parallel, thread_name_prefix="laurel-issue"
                )
            list(self._pool.map(self._issue, claims))
        else:
            for item in claims:
                self._issue(item)
        return handled + len(claims)

    def _issue(self, item: delivery.Claim) -> None:
        name = _provider_for(item)
        try:
            provider = self.providers.get(name)
            issued = provider.issue(item.order)
        except TransientProviderError as exc:
            PROVIDER_ERRORS.labels(name, "transient").inc()
            self._retry_or_fail(item, name, f"{name}: {exc}", exc.retry_after)
            return
        except PermanentProviderError as exc:
            PROVIDER_ERRORS.labels(name, "permanent").inc()
            with self.database.session() as session:
                delivery.record_failed(session, item.reward_id, f"{name}: {exc}")
            return
        except Exception as exc:  # a provider bug must not kill the worker; retry it later
            log.exception("provider %s raised unexpectedly for reward %s", name, item.reward_id)
            PROVIDER_ERRORS.labels(name, "unexpected").inc()
            self._retry_or_fail(item, name, f"{name}: unexpected {type(exc).__name__}: {exc}", None)
            return
        crash_point("worker.after_provider_call")
        self._delivered(item, name, issued)

    def _delivered(self, item: delivery.Claim, name: str, issued: Issued) -> None:
        with self.database.session() as session:
            reward = delivery.record_delivered(session, item.reward_id, name, issued)
        if reward is not None and reward.delivered_at is not None:
            DELIVERY_LATENCY.labels("live" if reward.livemode else "test").observe(
                (reward.delivered_at - reward.event_received_at).total_seconds()
            )

    def _retry_or_fail(
        self, item: delivery.Claim, name: str, error: str, retry_after: float | None
    ) -> None:
        if item.attempts >= self.settings.worker_max_attempts:
            self._give_up(item, name, error)
            return
        with self.database.session() as session:
            delay = delivery.backoff_seconds(
                item.attempts,
                self.settings.worker_backoff_base_seconds,
                self.settings.worker_backoff_max_seconds,
                retry_after,
            )
            delivery.record_retry(session, item.reward_id, error, delay)

    def _give_up(self, item: delivery.Claim, name: str, error: str) -> None:
        """Out of attempts. A timeout may still have issued, so ask before failing the reward:
        failing it would release budget the learner has in fact been paid from."""
        try:
            found = self.providers.get(name).lookup(item.order.idempotency_key)
        except Exception as exc:  # any failure to ask: leave it to reconciliation
            # Leave it issuing: reconciliation asks again when the lease runs out.
            log.warning("cannot settle reward %s with %s yet: %s", item.reward_id, name, exc)
            return
        if found is not None:
            self._delivered(item, name, found)
            return
        with self.database.session() as session:
            delivery.record_failed(
                session, item.reward_id, f"gave up after {item.attempts} attempts: {error}"
            )

    def reconcile(self) -> int:
        """Settle rewards left ``issuing`` by a dead worker by asking their provider."""
        with self.database.session() as session:
            abandoned = delivery.take_abandoned(
                session,
                limit=self.settings.worker_batch_size,
                lease_seconds=self.settings.worker_lease_seconds,
            )
        for item in abandoned:
            name = _provider_for(item)
            try:
                found = self.providers.get(name).lookup(item.order.idempotency_key)
            except Exception as exc:  # a provider bug must not stop the other settlements
                log.warning("cannot reconcile reward %s yet: %s", item.reward_id, exc)
                continue
            if found is not None:
                self._delivered(item, name, found)
            else:
                # The provider never saw it: issue again with the same idempotency key.
                with self.database.session() as session:
                    delivery.record_retry(
                        session, item.reward_id, "reconciled: the provider has no issuance", 0.0
                    )
        return len(abandoned)

    # ------------------------------------------------------------ loop

    def _sleep_seconds(self) -> float:
        with self.database.read_session() as session:
            due = delivery.due_at(session)
        poll = self.settings.worker_poll_seconds
        if due is None:
            return poll
        return max(0.0, min(poll, (due - utcnow()).total_seconds()))

    def run(self, stop: threading.Event) -> None:
        listener = None
        if self.database.dialect == "postgresql":
            listener = threading.Thread(
                target=self._listen, args=(stop,), daemon=True, name="laurel-listen"
            )
            listener.start()
        log.info("worker started")
        while not stop.is_set():
            try:
                handled = self.run_once()
                idle = self._sleep_seconds() if handled == 0 else 0.0
            except Exception:
                # The database is away or a provider misbehaved: keep the worker alive and
                # try again shortly; nothing is lost, claims are leased and reconciled.
                log.exception("worker pass failed; retrying")
                handled, idle = 0, 0.0
                stop.wait(1.0)
            if handled == 0 and not stop.is_set():
                self.wake.wait(idle)
                self.wake.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        log.info("worker stopped")

    def _listen(self, stop: threading.Event) -> None:
        """LISTEN for readied rewards committed by other processes and wake the loop."""
        import psycopg  # noqa: PLC0415 - only on PostgreSQL

        url = self.database.engine.url.set(drivername="postgresql")
        dsn = url.render_as_string(hide_password=False)
        while not stop.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    while not stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self.wake.set()
            except psycopg.Error as exc:
                log.warning("LISTEN connection lost (%s); polling until it is back", exc)
                stop.wait(2.0)


def start_in_thread(worker: Worker) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True, name="laurel-worker")
    thread.start()
    return thread, stop


def stop_thread(thread: threading.Thread, stop: threading.Event, worker: Worker) -> None:
    stop.set()
    worker.wake.set()
    with contextlib.suppress(RuntimeError):
        thread.join(timeout=10)
