"""Spending points: a redemption becomes a reward through the same gates and delivery, and the
points come back when that reward does not go through."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.providers import PermanentProviderError, ProviderRegistry
from laurel.kit.money import Money
from laurel.points import grants, ledger, marketplace, setup
from laurel.points.ledger import InsufficientPoints
from laurel.points.models import Redemption, RedemptionState
from laurel.rewards.models import Reward
from laurel.worker import Worker, default_providers
from tests.conftest import Tenant
from tests.delivery.support import ScriptedProvider, settle
from tests.factories import fixed_program, program_budget
from tests.points.support import learners

CATALOG_ITEM = uuid.UUID("0192f0e0-0000-7000-8000-00000000c0de")


@pytest.fixture
def giftco() -> ScriptedProvider:
    return ScriptedProvider("giftco")


@pytest.fixture
def providers(database: Database, giftco: ScriptedProvider) -> ProviderRegistry:
    registry = default_providers(database)
    registry.add(giftco)
    return registry


def _store(
    client: TestClient, tenant: Tenant, database: Database, **fields: Any
) -> tuple[uuid.UUID, uuid.UUID]:
    """A money program for redemptions, a 25.00 USD offer and a learner holding 5,000 points."""
    program = fixed_program(client, tenant, key="store", amount="1.00", provider="giftco", **fields)
    (ana,) = learners(database, tenant, 1)
    with database.session() as session:
        setup.update(
            session,
            tenant.actor,
            {"redemption_program_id": uuid.UUID(program["id"]), "points_per_unit": 100},
        )
        offer = marketplace.create_offer(
            session,
            tenant.actor,
            catalog_item_id=CATALOG_ITEM,
            name="Coffee card 25 USD",
            value=Money(2500, "USD"),
            sku="COFFEE-25",
        )
        assert offer.points == 2500
        grants.request_grant(
            session, tenant.actor, learner_id=ana, points=5000, reason="workshop", activity="event"
        )
    return ana, offer.id


def _redeem(
    database: Database, tenant: Tenant, ana: uuid.UUID, offer: uuid.UUID, key: str
) -> Redemption:
    with database.session() as session:
        return marketplace.redeem(
            session, tenant.actor, learner_id=ana, offer_id=offer, request_key=key
        )


def _balance(database: Database, tenant: Tenant, ana: uuid.UUID) -> int:
    with database.session() as session:
        return ledger.balance(session, ledger.Scope(tenant.id, True), ana)


def _redemption(database: Database, redemption_id: uuid.UUID) -> Redemption:
    with database.session() as session:
        return session.get_one(Redemption, redemption_id)


def test_redemption_is_delivered_like_any_reward(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
    giftco: ScriptedProvider,
) -> None:
    ana, offer = _store(client, tenant, database, budget={"amount": "100.00", "currency": "USD"})
    made = _redeem(database, tenant, ana, offer, "r-1")
    assert _redeem(database, tenant, ana, offer, "r-1").id == made.id  # replay: same one
    assert _balance(database, tenant, ana) == 2500
    assert made.reward_id is not None
    reward = settle(database, made.reward_id, Worker(database, settings, providers))
    assert reward.state == "delivered"
    assert reward.amount_minor == 2500
    assert reward.calculation["points_redemption"]["sku"] == "COFFEE-25"
    assert reward.event_id is None
    # The provider was asked for 25.00 USD with the reward id as the idempotency key.
    assert [key for key, _ in giftco.calls] == [str(reward.id)]
    assert _redemption(database, made.id).state == RedemptionState.delivered
    # The budget gate reserved it and delivery spent it.
    assert program_budget(client, tenant, str(reward.program_id))["spent"] == "25.00"
    with database.session() as session:
        assert ledger.reconcile(session, tenant.id).ok


def test_failed_redemption_returns_the_points(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
    giftco: ScriptedProvider,
) -> None:
    ana, offer = _store(client, tenant, database)
    giftco.script = [PermanentProviderError("item out of stock")]
    made = _redeem(database, tenant, ana, offer, "r-1")
    assert _balance(database, tenant, ana) == 2500
    assert made.reward_id is not None
    assert settle(database, made.reward_id, Worker(database, settings, providers)).state == "failed"
    assert _balance(database, tenant, ana) == 5000
    back = _redemption(database, made.id)
    assert back.state == RedemptionState.returned
    assert back.refund_id is not None
    with database.session() as session:
        assert ledger.reconcile(session, tenant.id).ok


def test_held_redemption_is_cancelled_and_returns_the_points(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    ana, offer = _store(
        client, tenant, database, approval_threshold={"amount": "10.00", "currency": "USD"}
    )
    made = _redeem(database, tenant, ana, offer, "r-1")
    with database.session() as session:
        reward = session.get_one(Reward, made.reward_id)
        assert reward.state == "cancelled"
        assert [h["reason"] for h in reward.hold_reasons] == ["approval_required"]
        assert reward.last_error is not None
        assert "points were returned" in reward.last_error
    assert _redemption(database, made.id).state == RedemptionState.returned
    assert _balance(database, tenant, ana) == 5000


def test_short_wallet_is_refused_and_nothing_is_written(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    ana, offer = _store(client, tenant, database)
    _redeem(database, tenant, ana, offer, "r-1")
    _redeem(database, tenant, ana, offer, "r-2")
    with pytest.raises(InsufficientPoints):
        _redeem(database, tenant, ana, offer, "r-3")
    with database.session() as session:
        rewards = session.query(Reward).filter(Reward.learner_id == ana).count()
        assert rewards == 2
    assert _balance(database, tenant, ana) == 0


def test_eight_clients_redeeming_at_once_never_overdraw(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    """The whole redemption (debit, redemption row, reward through the gates) from 8 clients
    at once, each with its own session and connection, against one wallet of 5,000 points."""
    if database.is_sqlite:
        pytest.skip("PostgreSQL: SQLite has one writer at a time by construction")
    ana, offer = _store(client, tenant, database)
    clients = 8
    barrier = threading.Barrier(clients)

    def attempt(n: int) -> str:
        barrier.wait(timeout=30)
        try:
            _redeem(database, tenant, ana, offer, f"race-{n}")
        except InsufficientPoints:
            return "refused"
        return "ok"

    with ThreadPoolExecutor(clients) as pool:
        outcomes = list(pool.map(attempt, range(clients)))
    assert outcomes.count("ok") == 2  # 2 × 2,500 points fit in 5,000
    assert outcomes.count("refused") == 6
    assert _balance(database, tenant, ana) == 0
    with database.session() as session:
        assert session.query(Reward).filter(Reward.learner_id == ana).count() == 2
        assert ledger.reconcile(session, tenant.id).ok
