"""Instant rewards paid in the learner's currency: converted at the day's rate with the fee
shown and the USD value kept, held (not guessed) without a rate, released by an import, paid in
the program's currency with the reason recorded when the provider cannot pay the learner's.

A live USD program pays through ``giftco`` (a scripted provider that pays in the currencies it
is given); the learner lives in Germany (EUR). Rates: 1 EUR = 1.0450 USD.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from laurel.catalog.models import RewardConversion
from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.providers import (
    Issued,
    IssueOrder,
    ProviderRegistry,
    TransientProviderError,
)
from laurel.fx import ecb, territory
from laurel.fx import service as fx
from laurel.kit.clock import utcnow
from laurel.kit.money import Money
from laurel.worker import Worker, default_providers
from tests.conftest import Tenant, completion
from tests.delivery.support import ScriptedProvider, load_reward, settle
from tests.factories import fixed_program, program_budget

BUDGET = {"amount": "100.00", "currency": "USD"}


@dataclass
class PayingProvider(ScriptedProvider):
    """A scripted provider that pays in ``currencies`` and remembers every amount asked."""

    currencies: frozenset[str] = frozenset()
    amounts: list[Money] = field(default_factory=list)

    def pays_in(self, reward_kind: str, currency: str) -> bool:
        return currency in self.currencies

    def issue(self, order: IssueOrder) -> Issued:
        self.amounts.append(order.amount)
        return super().issue(order)


@pytest.fixture
def giftco() -> PayingProvider:
    return PayingProvider("giftco", currencies=frozenset({"EUR", "GBP"}))


@pytest.fixture
def providers(database: Database, giftco: PayingProvider) -> ProviderRegistry:
    registry = default_providers(database)
    registry.add(giftco)
    return registry


def _rates(database: Database, tenant: Tenant, fee_bps: int = 150) -> None:
    today = utcnow().date().isoformat()
    with database.session() as session:
        fx.store(
            session,
            ecb.parse(f"Date,USD,GBP,\n{today},1.0450,0.83455,\n".encode()),
            source="ecb",
            actor="test",
        )
        fx.set_fee(session, tenant.id, fee_bps, actor="test")


def _reward(client: TestClient, tenant: Tenant, country: str = "DE") -> uuid.UUID:
    body = completion()
    body["learner"]["country"] = country
    response = client.post("/api/v1/completions", json=body, headers=tenant.headers)
    assert response.status_code == 202, response.text
    (reward,) = response.json()["rewards"]
    assert reward["state"] == "ready"
    return uuid.UUID(reward["id"])


def _program(client: TestClient, tenant: Tenant) -> str:
    program = fixed_program(client, tenant, amount="25.00", provider="giftco", budget=BUDGET)
    program_id: str = program["id"]
    return program_id


def _api(client: TestClient, tenant: Tenant, reward_id: uuid.UUID) -> dict[str, Any]:
    response = client.get(f"/api/v1/rewards/{reward_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _conversions(database: Database, reward_id: uuid.UUID) -> int:
    with database.session() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(RewardConversion)
                .where(RewardConversion.reward_id == reward_id)
            )
            or 0
        )


def test_a_learner_abroad_is_paid_in_their_currency_with_the_fee_shown(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    giftco: PayingProvider,
) -> None:
    _rates(database, tenant, fee_bps=150)
    program_id = _program(client, tenant)
    reward_id = _reward(client, tenant)
    assert settle(database, reward_id, Worker(database, settings, providers)).state == "delivered"

    # 25.00 USD / 1.0450 = 23.92 EUR; 1.5 % fee = 0.36 EUR; the learner receives 23.56 EUR.
    assert giftco.amounts == [Money(2356, "EUR")]
    payment = _api(client, tenant, reward_id)["payment"]
    assert payment["paid"] == {"amount": "23.56", "currency": "EUR"}
    assert payment["fee"] == {"amount": "0.36", "currency": "EUR"}
    assert payment["usd"] == {"amount": "25.00", "currency": "USD"}
    assert (payment["rate_source"], payment["rate_date"]) == ("ecb", utcnow().date().isoformat())
    assert payment["rate"].startswith("0.95693779")
    assert (payment["learner_currency"], payment["fallback_reason"]) == ("EUR", None)
    # The budget is kept in the program's currency.
    spent = program_budget(client, tenant, program_id)
    assert (spent["spent"], spent["reserved"]) == ("25.00", "0.00")
    listed = client.get("/api/v1/rewards", headers=tenant.headers).json()["data"]
    assert listed[0]["payment"]["paid"] == {"amount": "23.56", "currency": "EUR"}


def test_without_a_rate_the_reward_is_held_and_an_import_releases_it(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    giftco: PayingProvider,
) -> None:
    program_id = _program(client, tenant)
    reward_id = _reward(client, tenant)
    worker = Worker(database, settings, providers)
    worker.run_once()

    held = load_reward(database, reward_id)
    assert held.state == "held"
    (reason,) = held.hold_reasons
    assert (reason["gate"], reason["reason"]) == ("fx", "fx_rate_unavailable")
    assert "EUR" in reason["message"]
    assert "rates are imported" in reason["message"]
    assert giftco.calls == []  # nothing was paid at a guessed rate
    assert _conversions(database, reward_id) == 0

    _rates(database, tenant, fee_bps=0)
    assert load_reward(database, reward_id).state == "ready"
    assert settle(database, reward_id, worker).state == "delivered"
    assert giftco.amounts == [Money(2392, "EUR")]
    # Held and released, the reward reserved and spent its budget once.
    spent = program_budget(client, tenant, program_id)
    assert (spent["spent"], spent["reserved"]) == ("25.00", "0.00")


def test_a_provider_that_cannot_pay_the_currency_pays_the_programs_with_the_reason(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    giftco: PayingProvider,
) -> None:
    _program(client, tenant)
    reward_id = _reward(client, tenant, country="JP")  # giftco pays EUR and GBP, not JPY
    assert settle(database, reward_id, Worker(database, settings, providers)).state == "delivered"

    assert giftco.amounts == [Money(2500, "USD")]
    payment = _api(client, tenant, reward_id)["payment"]
    assert payment["paid"] == {"amount": "25.00", "currency": "USD"}
    assert payment["learner_currency"] == "JPY"
    assert "giftco is not set up to pay" in payment["fallback_reason"]
    assert "JPY" in payment["fallback_reason"]


def test_a_retry_pays_the_amount_fixed_at_the_first_attempt(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    giftco: PayingProvider,
) -> None:
    _rates(database, tenant, fee_bps=0)
    giftco.script = [TransientProviderError("504"), TransientProviderError("timeout")]
    _program(client, tenant)
    reward_id = _reward(client, tenant, country="GB")
    assert settle(database, reward_id, Worker(database, settings, providers)).state == "delivered"

    # 25.00 USD / 1.0450 * 0.83455 = 19.97 GBP, asked for three times, the same each time.
    assert giftco.amounts == [Money(1997, "GBP")] * 3
    assert len({key for key, _ in giftco.calls}) == 1
    assert _conversions(database, reward_id) == 1


def test_a_learner_at_home_is_paid_as_before(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    giftco: PayingProvider,
) -> None:
    _program(client, tenant)
    reward_id = _reward(client, tenant, country="US")
    assert settle(database, reward_id, Worker(database, settings, providers)).state == "delivered"
    assert giftco.amounts == [Money(2500, "USD")]
    payment = _api(client, tenant, reward_id)["payment"]
    assert (payment["learner_currency"], payment["fallback_reason"]) == (None, None)


def test_the_country_currency_table_uses_cldr_with_overrides() -> None:
    day = date(2026, 11, 26)
    assert territory.currency_for("de", day) == "EUR"
    assert territory.currency_for("BR", day) == "BRL"
    assert territory.currency_for("PA", day) == "USD"  # CLDR lists PAB first
    assert territory.currency_for("XK", day, {"XK": "CHF"}) == "CHF"
    assert territory.currency_for("AQ", day) is None
    assert territory.currency_for(None, day) is None


def test_the_settings_refuse_unknown_currencies() -> None:
    with pytest.raises(ValueError, match="ZZZ"):
        Settings(fx_country_currencies={"DE": "ZZZ"})
    with pytest.raises(ValueError, match="PTS"):
        Settings(sandbox_currencies=["PTS"])
