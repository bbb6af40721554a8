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
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from laurel import retention, sqlite_statistics
from laurel.config import Settings, get_settings
from laurel.db import Database
from laurel.delivery import currency
from laurel.delivery import service as delivery
from laurel.delivery.providers import (
    OWN_CHANNELS,
    Issued,
    PermanentProviderError,
    ProviderRegistry,
    TransientProviderError,
)
from laurel.delivery.providers.inventory import InventoryProvider
from laurel.delivery.providers.routing import Router
from laurel.delivery.providers.sandbox import SandboxProvider
from laurel.delivery.providers.tango import TangoProvider
from laurel.delivery.providers.tremendous import TremendousProvider
from laurel.kit import crypto
from laurel.kit.clock import utcnow
from laurel.kit.faults import crash_point
from laurel.links import service as links
from laurel.links.channel import LinkChannel
from laurel.metrics import DELIVERY_LATENCY, PROVIDER_ERRORS
from laurel.notifications import service as notifications
from laurel.notifications.sender import EmailSender
from laurel.points.provider import PointsProvider
from laurel.rewards.service import NOTIFY_CHANNEL, READY_SIGNAL
from laurel.webhooks import service as webhooks
from laurel.webhooks.sender import WebhookSender

log = logging.getLogger("laurel.worker")
LINK = LinkChannel.name
WORKER = "worker"


def _provider_for(item: delivery.Claim) -> str:
    # Test-mode rewards are created with the sandbox provider; this makes sure of it, so no
    # test event can ever reach a real provider, whatever its row says (the claim's route
    # says the same: see delivery.routing.resolve). The link channel pays nothing itself (the
    # learner's choice goes to the sandbox in test mode).
    # Points are Laurel's own ledger, kept apart per mode: test-mode points go there too.
    if item.provider in OWN_CHANNELS:
        return item.provider
    return (item.route or (item.provider,))[0] if item.order.livemode else "sandbox"


class OutboxSender(Protocol):
    """Sends one kind of outbox row (emails, webhook messages) in passes."""

    def run_once(self) -> int: ...
    def due_at(self) -> datetime | None: ...
    def close(self) -> None: ...


OUTBOX_SIGNALS = (notifications.OUTBOX_SIGNAL, webhooks.OUTBOX_SIGNAL)


def default_outboxes(database: Database, settings: Settings) -> list[OutboxSender]:
    """Webhooks always; email only when an SMTP server is configured (until then its rows
    wait in the outbox)."""
    senders: list[OutboxSender] = [WebhookSender(database, settings)]
    if settings.smtp_host:
        senders.append(EmailSender(database, settings))
    else:
        log.info("LAUREL_SMTP_HOST is not set: emails wait in the outbox")
    return senders


def default_providers(database: Database, settings: Settings | None = None) -> ProviderRegistry:
    """The sandbox and inventory always; Tango and Tremendous when their settings are given."""
    settings = settings or get_settings()
    registry = ProviderRegistry()
    registry.add(SandboxProvider(database, settings.sandbox_currencies))
    registry.add(InventoryProvider(database, settings))
    if settings.tango_base_url:
        registry.add(TangoProvider.from_settings(settings))
    if settings.tremendous_base_url:
        registry.add(TremendousProvider.from_settings(settings))
    registry.add(PointsProvider(database))
    return registry


@dataclass
class Worker:
    database: Database
    settings: Settings
    providers: ProviderRegistry
    wake: threading.Event = field(default_factory=threading.Event)
    router: Router = field(init=False)
    currency_policy: currency.Policy = field(init=False)
    ring: crypto.KeyRing = field(init=False)
    outboxes: list[OutboxSender] | None = None
    """Email and webhook senders, run beside issuance in their own threads; None: defaults."""
    _last_reconcile: float = 0.0
    _last_expiry: float = 0.0
    _last_purge: float = 0.0
    _last_statistics: float = 0.0
    _pool: ThreadPoolExecutor | None = None
    _in_flight: set[Future[None]] = field(default_factory=set)
    _flight_lock: threading.Lock = field(default_factory=threading.Lock)
    _outbox_wakes: list[threading.Event] = field(default_factory=list)
    _hooked: bool = False

    def __post_init__(self) -> None:
        if self.outboxes is None:
            self.outboxes = default_outboxes(self.database, self.settings)
        self._outbox_wakes = [threading.Event() for _ in self.outboxes]
        if LINK not in self.providers.names():
            # Link rewards are "issued" by minting their link with this deployment's secret.
            self.providers.add(
                LinkChannel(
                    self.database,
                    secret=self.settings.secret_key,
                    default_days=self.settings.link_lifetime_days,
                )
            )
        self.router = Router(self.database, self.providers)
        self.ring = crypto.ring_from_settings(self.settings)
        self.currency_policy = currency.Policy(self.providers, self.settings.fx_country_currencies)

    def attach(self) -> None:
        """Wake this worker when a commit in this process readies a reward."""

        def _hook(session: object) -> None:
            # Read, never pop: the session is one unit of work and already closed, and
            # every worker attached to this database (the app's and one a test or
            # command runs) must hear the same signal.
            if getattr(session, "info", {}).get(READY_SIGNAL, False):
                self.wake.set()

        self.database.on_commit(_hook)
        self._hook_outbox()

    def _hook_outbox(self) -> None:
        """Wake the outbox senders when a commit in this process wrote outbox rows."""
        if self._hooked:
            return
        self._hooked = True

        # Each sender wakes for its own rows only: an email queued used to wake the webhook
        # sender too, whose empty pass still took the write lock (bench.latency: 2.4 s of
        # lock time in a 15 s run with no webhook subscribed). A sender naming no signal
        # wakes for any.
        wanted = [getattr(sender, "signal", None) for sender in self.outboxes or []]

        def _hook(session: object) -> None:
            info = getattr(session, "info", {})
            raised = {name for name in OUTBOX_SIGNALS if info.get(name, False)}
            if raised:
                for signal, wake in zip(wanted, self._outbox_wakes, strict=True):
                    if signal is None or signal in raised:
                        wake.set()

        self.database.on_commit(_hook)

    def run_outbox_once(self) -> int:
        """One pass of every outbox sender (tests and one-shot commands)."""
        return sum(sender.run_once() for sender in self.outboxes or [])

    def _outbox_loop(
        self, sender: OutboxSender, wake: threading.Event, stop: threading.Event
    ) -> None:
        poll = self.settings.worker_poll_seconds
        while not stop.is_set():
            try:
                handled = sender.run_once()
                idle = 0.0
                if handled == 0:
                    due = sender.due_at()
                    idle = (
                        poll
                        if due is None
                        else max(0.0, min(poll, (due - utcnow()).total_seconds()))
                    )
            except Exception:
                log.exception("outbox pass failed; retrying")
                handled, idle = 0, 1.0
            if handled == 0 and not stop.is_set():
                wake.wait(idle)
                wake.clear()
        sender.close()

    # ------------------------------------------------------------ one pass

    def run_once(self) -> int:
        """Reconcile abandoned claims when due, then issue one batch. Returns rewards handled."""
        handled = self._maintain()
        claims = self._claim()
        # Also on SQLite: measured (bench.latency, docs/performance.md), one issuing thread
        # loses the write lock to request threads under load and the backlog grows.
        parallel = self.settings.worker_concurrency
        if len(claims) > 1 and parallel > 1:
            # Providers answer in hundreds of milliseconds: call them side by side. Each call
            # records its own outcome, so one slow provider holds back nothing else.
            list(self._executor().map(self._issue, claims))
        else:
            for item in claims:
                self._issue(item)
        return handled + len(claims)

    def pump(self) -> int:
        """The running worker's pass: maintenance when due, then, when a provider call is
        free, claim a batch and hand it to the calls without waiting for it to finish.

        A batch issued with ``run_once`` is finished as a whole before the next claim: a
        reward readied just after a claim waited for the slowest call of the whole batch
        (bench.latency: most of its p99). Here the next batch is claimed as soon as the calls
        run short of work. Claiming only as many rewards as there are free calls was tried
        and was worse: every claim queues for SQLite's write lock behind the calls and the
        intake, so small claims starved the calls. Returns the rewards claimed and the
        maintenance done."""
        handled = self._maintain()
        if len(self._in_flight) >= self.settings.worker_concurrency:
            return handled
        claims = self._claim()
        for item in claims:
            call = self._executor().submit(self._issue, item)
            with self._flight_lock:
                self._in_flight.add(call)
            call.add_done_callback(self._landed)
        return handled + len(claims)

    def _claim(self) -> list[delivery.Claim]:
        with self.database.session() as session:
            return delivery.claim(
                session,
                limit=self.settings.worker_batch_size,
                lease_seconds=self.settings.worker_lease_seconds,
                policy=self.currency_policy,
            )

    def _landed(self, call: Future[None]) -> None:
        with self._flight_lock:
            self._in_flight.discard(call)
        if (error := call.exception()) is not None:  # _issue records every provider outcome
            log.error("issuing raised", exc_info=error)
        self.wake.set()  # a call is free: claim the next reward

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=max(1, self.settings.worker_concurrency),
                thread_name_prefix="laurel-issue",
            )
        return self._pool

    def _maintain(self) -> int:
        """Reconcile abandoned claims, expire links, approvals and points, purge outboxes,
        refresh SQLite's planner statistics: each when its interval has passed. Returns the
        rewards reconciled or expired."""
        handled = 0
        if time.monotonic() - self._last_reconcile >= min(5.0, self.settings.worker_lease_seconds):
            handled += self.reconcile()
            handled += self.expire_links()
            self._last_reconcile = time.monotonic()
        if time.monotonic() - self._last_expiry >= self.settings.approval_sweep_seconds:
            self.expire_approvals()
            self.expire_points()
            self._last_expiry = time.monotonic()
        if time.monotonic() - self._last_purge >= self.settings.outbox_purge_seconds:
            self.purge_outboxes()
            self._last_purge = time.monotonic()
        since = time.monotonic() - self._last_statistics
        if since >= sqlite_statistics.STATISTICS_INTERVAL_SECONDS:
            self._last_statistics = time.monotonic()
            sqlite_statistics.refresh_if_free(self.database)
        return handled

    def _issue(self, item: delivery.Claim) -> None:
        name = _provider_for(item)
        try:
            outcome = self.router.issue(item)
        except TransientProviderError as exc:
            name = exc.provider or name
            PROVIDER_ERRORS.labels(name, "transient").inc()
            self._retry_or_fail(item, name, f"{name}: {exc}", exc.retry_after)
            return
        except PermanentProviderError as exc:
            name = exc.provider or name
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
        self._delivered(item, outcome.provider, outcome.issued)

    def _delivered(self, item: delivery.Claim, name: str, issued: Issued) -> None:
        with self.database.session() as session:
            reward = delivery.record_delivered(
                session, item.reward_id, name, issued, item.payment, ring=self.ring
            )
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
            found = self.router.lookup(item)
        except Exception as exc:  # any failure to ask: leave it to reconciliation
            # Leave it issuing: reconciliation asks again when the lease runs out.
            log.warning("cannot settle reward %s with %s yet: %s", item.reward_id, name, exc)
            return
        if found is not None:
            self._delivered(item, found.provider, found.issued)
            return
        with self.database.session() as session:
            delivery.record_failed(
                session, item.reward_id, f"gave up after {item.attempts} attempts: {error}"
            )

    def expire_links(self) -> int:
        """Expire reward links past their lifetime, so reports see them without a visit."""
        with self.database.session() as session:
            return links.expire_due(
                session, now=utcnow(), actor=WORKER, limit=self.settings.worker_batch_size
            )

    def purge_outboxes(self) -> retention.Purged:
        """Settled emails and webhook messages past their retention (docs/privacy.md)."""
        return retention.purge(self.database, self.settings)

    def expire_approvals(self) -> int:
        """Lapsed approvals go back to needing a decision; requests left undecided past their
        deadline expire and cancel their rewards (see approvals.service)."""
        from laurel.approvals import service as approvals  # noqa: PLC0415 - import cycle

        with self.database.session() as session:
            return approvals.sweep(session, actor=WORKER)

    def expire_points(self) -> int:
        """Expire points lots whose time came, record the notices the programs' policies ask
        for, and queue their emails (each notice once); answers the emails queued."""
        from laurel.points import expiry  # noqa: PLC0415 - import cycle

        now = utcnow()
        with self.database.session() as session:
            expiry.expire_due(session, now=now, actor=WORKER, limit=self.settings.worker_batch_size)
        with self.database.session() as session:
            expiry.record_notices(session, now=now)
            return expiry.queue_notices(session, public_url=self.settings.public_url, now=now)

    def refresh_snapshots(self, limit: int = 3) -> int:
        """Recompute a few stored reports that are due (``snapshots.due``, ``snapshots.renew``).
        Returns the snapshots written."""
        from laurel.analytics import snapshots  # noqa: PLC0415 - import cycle

        max_age = self.settings.report_refresh_seconds
        if max_age <= 0:
            return 0  # served live on every request: nothing to keep fresh
        with self.database.read_session() as session:
            targets = snapshots.due(session, now=utcnow(), max_age_seconds=max_age, limit=limit)
        return sum(
            snapshots.renew(self.database, target, max_age_seconds=max_age) for target in targets
        )

    def _snapshot_loop(self, stop: threading.Event) -> None:
        """Keep the stored reports fresh, beside issuance: one report can take seconds to
        count at scale, which would hold back every claim if it ran in the main loop."""
        # Often enough that a snapshot refreshed at EARLY of its age is renewed before it
        # goes stale, and never more than once a minute.
        every = min(60.0, max(1.0, self.settings.report_refresh_seconds / 5))
        while not stop.is_set():
            try:
                self.refresh_snapshots()
            except Exception:
                log.exception("report snapshot refresh failed; retrying")
            stop.wait(every)

    def reconcile(self) -> int:
        """Settle rewards left ``issuing`` by a dead worker by asking their provider."""
        with self.database.session() as session:
            abandoned = delivery.take_abandoned(
                session,
                limit=self.settings.worker_batch_size,
                lease_seconds=self.settings.worker_lease_seconds,
            )
        for item in abandoned:
            try:
                found = self.router.lookup(item)
            except Exception as exc:  # a provider bug must not stop the other settlements
                log.warning("cannot reconcile reward %s yet: %s", item.reward_id, exc)
                continue
            if found is not None:
                self._delivered(item, found.provider, found.issued)
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
        self._hook_outbox()
        threads = [
            threading.Thread(
                target=self._outbox_loop,
                args=(sender, wake, stop),
                daemon=True,
                name=f"laurel-outbox-{type(sender).__name__}",
            )
            for sender, wake in zip(self.outboxes or [], self._outbox_wakes, strict=True)
        ]
        if self.settings.report_refresh_seconds > 0:
            threads.append(
                threading.Thread(
                    target=self._snapshot_loop, args=(stop,), daemon=True, name="laurel-reports"
                )
            )
        for thread in threads:
            thread.start()
        log.info("worker started")
        while not stop.is_set():
            try:
                handled = self.pump()
                idle = 0.0
                if handled == 0:
                    # Calls in flight wake the loop as they end; otherwise sleep until due.
                    busy = bool(self._in_flight)
                    idle = self.settings.worker_poll_seconds if busy else self._sleep_seconds()
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
        for wake in self._outbox_wakes:
            wake.set()
        for thread in threads:
            thread.join(timeout=30)
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
    for wake in worker._outbox_wakes:
        wake.set()
    with contextlib.suppress(RuntimeError):
        thread.join(timeout=10)
