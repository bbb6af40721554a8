"""Prometheus metrics. Counters and the latency histogram are updated in-process; reward counts
by state and the queue depth are read from the database at scrape time, so they are right for
the whole deployment, not only for this process."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from laurel.config import get_settings
from laurel.db import Database
from laurel.delivery.inventory import service as inventory
from laurel.rewards import service as rewards
from laurel.rewards.models import RewardState

REGISTRY = CollectorRegistry(auto_describe=True)

EVENTS_RECEIVED = Counter(
    "laurel_events_received_total",
    "Completion events stored, by source and outcome (replays not counted)",
    ["source", "outcome", "mode"],
    registry=REGISTRY,
)
EVENTS_REJECTED = Counter(
    "laurel_events_rejected_total",
    "Completion events refused, by reason",
    ["reason"],
    registry=REGISTRY,
)
DELIVERY_LATENCY = Histogram(
    "laurel_event_to_delivered_seconds",
    "Seconds from receiving a completion event to its reward being delivered",
    ["mode"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
    registry=REGISTRY,
)
INTAKE_GROUP_SIZE = Histogram(
    "laurel_intake_group_events",
    "Single-event requests stored together in one transaction (group commit)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
    registry=REGISTRY,
)

XAPI_GROUP_SIZE = Histogram(
    "laurel_xapi_group_requests",
    "xAPI statement requests stored together in one transaction (group commit)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
    registry=REGISTRY,
)
PROVIDER_ERRORS = Counter(
    "laurel_provider_errors_total",
    "Provider calls that failed, by provider and kind (transient, permanent)",
    ["provider", "kind"],
    registry=REGISTRY,
)

EMAILS = Counter(
    "laurel_emails_total",
    "Outbox emails by outcome of an attempt (sent, retried, failed, skipped)",
    ["outcome"],
    registry=REGISTRY,
)
WEBHOOK_ATTEMPTS = Counter(
    "laurel_webhook_attempts_total",
    "Outgoing webhook requests by outcome (succeeded, retried, failed, disabled)",
    ["outcome"],
    registry=REGISTRY,
)


class DatabaseCollector(Collector):
    def __init__(self, database: Database) -> None:
        self.database = database

    def describe(self) -> list[GaugeMetricFamily]:
        # Declaring no fixed metrics keeps registration from querying the database.
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        by_state = GaugeMetricFamily("laurel_rewards", "Rewards by state", labels=["state", "mode"])
        depth = GaugeMetricFamily(
            "laurel_worker_queue_depth", "Rewards ready and waiting for the issuance worker"
        )
        counts = {(s.value, m): 0 for s in RewardState for m in ("live", "test")}
        try:
            with self.database.read_session() as session:
                rows = rewards.count_by_state(session)
        except SQLAlchemyError:
            # The database is down or not migrated: /readyz says so; metrics stay scrapeable.
            return
        for state, live, count in rows:
            counts[(state, "live" if live else "test")] = count
        for (state, mode), count in sorted(counts.items()):
            by_state.add_metric([state, mode], count)
        depth.add_metric([], counts[("ready", "live")] + counts[("ready", "test")])
        yield by_state
        yield depth
        yield from self._inventory()

    def _inventory(self) -> Iterator[GaugeMetricFamily]:
        labels = ["organization", "brand", "currency", "value_minor"]
        available = GaugeMetricFamily(
            "laurel_inventory_codes_available",
            "Unexpired inventory codes not yet handed out, per denomination",
            labels=labels,
        )
        low = GaugeMetricFamily(
            "laurel_inventory_low_stock",
            "1 when a denomination has fewer available codes than its threshold",
            labels=labels,
        )
        try:
            with self.database.read_session() as session:
                levels = inventory.deployment_stock(session, get_settings().inventory_low_stock)
        except SQLAlchemyError:
            return
        for organization_id, level in levels:
            key = [str(organization_id), level.brand, level.currency, str(level.value_minor)]
            available.add_metric(key, level.available)
            low.add_metric(key, 1 if level.low else 0)
        yield available
        yield low


def bind_database(database: Database) -> None:
    """Report from this database; called once by the app factory."""
    for collector in list(REGISTRY._collector_to_names):
        if isinstance(collector, DatabaseCollector):
            REGISTRY.unregister(collector)
    REGISTRY.register(DatabaseCollector(database))
