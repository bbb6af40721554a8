"""Rewards issued instantly keep their USD equivalent for tax aggregation, as link rewards do."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from laurel.catalog import conversions
from laurel.catalog.models import RewardConversion
from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from laurel.kit.clock import utcnow
from laurel.worker import Worker
from tests.catalog.test_choices import _rates
from tests.conftest import Tenant, completion
from tests.delivery.support import load_reward, settle
from tests.factories import fixed_program


def _deliver(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
) -> uuid.UUID:
    response = client.post("/api/v1/completions", json=completion(), headers=tenant.headers)
    assert response.status_code == 202, response.text
    reward_id = uuid.UUID(response.json()["rewards"][0]["id"])
    assert settle(database, reward_id, Worker(database, settings, providers)).state == "delivered"
    return reward_id


def _conversion(database: Database, reward_id: uuid.UUID) -> RewardConversion | None:
    with database.session() as session:
        return session.scalar(
            select(RewardConversion).where(RewardConversion.reward_id == reward_id)
        )


def test_a_euro_reward_delivered_instantly_keeps_its_usd_equivalent(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
) -> None:
    _rates(database, tenant, fee_bps=150)
    fixed_program(
        client,
        tenant,
        amount="20.00",
        currency="EUR",
        budget={"amount": "100.00", "currency": "EUR"},
    )
    reward_id = _deliver(client, tenant, database, settings, providers)
    row = _conversion(database, reward_id)
    assert row is not None
    # Paid as it is (no conversion, no fee); valued in USD at the day's rate, no fee.
    assert (row.from_minor, row.from_currency, row.to_minor, row.to_currency) == (
        2000,
        "EUR",
        2000,
        "EUR",
    )
    assert (row.fee_minor, row.usd_minor, row.source) == (0, 2090, "same_currency")
    assert row.converted_on == utcnow().date()
    reward = load_reward(database, reward_id)
    with database.session() as session:
        assert conversions.record_delivered(session, reward, utcnow().date()) is False
        count = session.scalar(
            select(func.count())
            .select_from(RewardConversion)
            .where(RewardConversion.reward_id == reward_id)
        )
    assert count == 1


def test_without_a_rate_the_reward_is_still_delivered(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
) -> None:
    fixed_program(
        client,
        tenant,
        amount="20.00",
        currency="EUR",
        budget={"amount": "100.00", "currency": "EUR"},
    )
    reward_id = _deliver(client, tenant, database, settings, providers)
    assert _conversion(database, reward_id) is None


def test_a_dollar_reward_needs_no_rate(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
) -> None:
    fixed_program(client, tenant, amount="25.00")
    reward_id = _deliver(client, tenant, database, settings, providers)
    row = _conversion(database, reward_id)
    assert row is not None
    assert row.usd_minor == 2500
