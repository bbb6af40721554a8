"""Year totals: every program and currency in USD at the rate of the delivery date, the
payer's calendar deciding the year, payments committed but not yet made counting at the gate."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from fastapi.testclient import TestClient

from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from laurel.kit.clock import utcnow
from laurel.kit.money import Money
from laurel.tax import records
from laurel.worker import Worker
from tests.conftest import Tenant
from tests.factories import fixed_program
from tests.tax.support import Outbox, deliver_at, earn, reasons, record_of, settings


def _totals(client: TestClient, tenant: Tenant, year: int) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/tax/totals?year={year}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def _programs(client: TestClient, tenant: Tenant) -> None:
    """One program per currency, each paying for its own course."""
    for key, amount, code in (("usd", "300.00", "USD"), ("eur", "200.00", "EUR")):
        fixed_program(
            client,
            tenant,
            key=key,
            amount=amount,
            currency=code,
            conditions={"course_ids": [f"{key.upper()}-1"]},
        )
    fixed_program(
        client,
        tenant,
        key="gbp",
        amount="100.00",
        currency="GBP",
        conditions={"course_ids": ["GBP-1"]},
    )


def test_totals_add_every_program_and_currency_at_the_delivery_dates_rate(
    client: TestClient, tenant: Tenant, database: Database, rates: None
) -> None:
    _programs(client, tenant)
    paid = [earn(client, tenant, f"e-{c}", course=f"{c}-1") for c in ("USD", "EUR", "GBP")]
    assert [r["state"] for r in paid] == ["ready"] * 3
    on = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
    for reward in paid:
        deliver_at(database, reward["id"], on)
    [line] = _totals(client, tenant, 2026)
    # 300.00 USD + 200 EUR × 1.1000 + 100 GBP × (1.1000 / 0.8600 = 1.27906…) = 647.91
    assert line["total"] == {"amount": "647.91", "currency": "USD"}
    assert (line["form_type"], line["box"], line["payments"]) == ("1099-MISC", "3", 3)
    assert line["reportable"] is False
    eur = record_of(database, paid[1]["id"])
    assert eur is not None
    assert (eur.amount_minor, eur.currency, eur.usd_minor) == (20000, "EUR", 22000)
    assert (eur.rate_date, eur.paid_on, eur.tax_year, eur.status) == (
        date(2026, 1, 2),
        date(2026, 1, 2),
        2026,
        "delivered",
    )
    assert eur.rate == "1.1000"


def test_the_gate_estimates_at_todays_rate_and_delivery_fixes_it(
    client: TestClient, tenant: Tenant, database: Database, rates: None
) -> None:
    fixed_program(client, tenant, amount="200.00", currency="EUR")
    reward = earn(client, tenant, "e-1")
    gated = record_of(database, reward["id"])
    assert gated is not None
    assert (gated.status, gated.usd_minor, gated.paid_on) == ("gated", 21000, utcnow().date())
    deliver_at(database, reward["id"], datetime(2025, 12, 31, 18, 0, tzinfo=UTC))
    fixed = record_of(database, reward["id"])
    assert fixed is not None
    assert (fixed.status, fixed.usd_minor, fixed.tax_year) == ("delivered", 24000, 2025)


def test_a_dec_31_jan_1_pair_splits_by_the_payers_calendar(
    client: TestClient, tenant: Tenant, database: Database, rates: None
) -> None:
    settings(client, tenant, timezone="America/Los_Angeles")
    fixed_program(client, tenant, amount="100.00", currency="EUR")
    late, early = earn(client, tenant, "e-1"), earn(client, tenant, "e-2")
    # 23:30 on 31 December in Los Angeles is already 1 January in UTC.
    deliver_at(database, late["id"], datetime(2026, 1, 1, 7, 30, tzinfo=UTC))
    # 00:30 on 1 January in Los Angeles.
    deliver_at(database, early["id"], datetime(2026, 1, 1, 8, 30, tzinfo=UTC))
    [y2025] = _totals(client, tenant, 2025)
    [y2026] = _totals(client, tenant, 2026)
    # The ECB publishes nothing on 1 January: both use 31 December's 1.2000.
    assert y2025["total"]["amount"] == y2026["total"]["amount"] == "120.00"
    assert y2025["payments"] == y2026["payments"] == 1
    dec31 = record_of(database, late["id"])
    jan1 = record_of(database, early["id"])
    assert dec31 is not None
    assert jan1 is not None
    assert (dec31.paid_on, jan1.paid_on) == (date(2025, 12, 31), date(2026, 1, 1))


def test_in_utc_the_same_pair_is_one_year(
    client: TestClient, tenant: Tenant, database: Database, rates: None
) -> None:
    fixed_program(client, tenant, amount="100.00", currency="EUR")
    late, early = earn(client, tenant, "e-1"), earn(client, tenant, "e-2")
    deliver_at(database, late["id"], datetime(2026, 1, 1, 7, 30, tzinfo=UTC))
    deliver_at(database, early["id"], datetime(2026, 1, 1, 8, 30, tzinfo=UTC))
    assert _totals(client, tenant, 2025) == []
    [line] = _totals(client, tenant, 2026)
    assert (line["payments"], line["total"]["amount"]) == (2, "240.00")


def test_the_worker_delivering_fixes_the_record(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
) -> None:
    fixed_program(client, tenant, amount="25.00")
    reward = earn(client, tenant, "e-1", classification="employee")
    Worker(database, settings, providers).run_once()
    record = record_of(database, reward["id"])
    assert record is not None
    assert (record.status, record.treatment, record.usd_minor) == ("delivered", "wages", 2500)
    assert record.tax_year == utcnow().year


def test_cancelled_rewards_no_longer_count_at_the_gate(
    client: TestClient, tenant: Tenant, outbox: Outbox
) -> None:
    fixed_program(client, tenant, amount="1500.00")
    first = earn(client, tenant, "e-1")
    assert first["state"] == "ready"
    cancelled = client.post(
        f"/api/v1/rewards/{first['id']}/cancel", json={"reason": "test"}, headers=tenant.headers
    )
    assert cancelled.status_code == 200, cancelled.text
    assert earn(client, tenant, "e-2")["state"] == "ready"
    assert reasons(earn(client, tenant, "e-3")) == ["tax_form_required"]


def test_a_rerun_never_counts_the_reward_twice(
    client: TestClient, tenant: Tenant, outbox: Outbox
) -> None:
    fixed_program(client, tenant, amount="1500.00")
    assert earn(client, tenant, "e-1")["state"] == "ready"
    held = earn(client, tenant, "e-2")
    assert "$3,000.00" in held["hold_reasons"][0]["message"]
    again = client.post(f"/api/v1/rewards/{held['id']}/recheck", headers=tenant.headers)
    assert again.status_code == 200, again.text
    body = again.json()
    assert body["state"] == "held"
    assert "$3,000.00" in body["hold_reasons"][0]["message"]


def test_points_count_when_redeemed(
    client: TestClient, tenant: Tenant, database: Database, rates: None
) -> None:
    fixed_program(client, tenant, amount="100.00")
    reward = earn(client, tenant, "e-1")
    deliver_at(database, reward["id"], datetime(2026, 3, 1, 12, tzinfo=UTC))
    with database.session() as session:
        learner_id = record_of(database, reward["id"]).learner_id  # type: ignore[union-attr]
        redemption = str(uuid.uuid4())
        args: dict[str, Any] = {
            "organization_id": tenant.id,
            "livemode": True,
            "learner_id": learner_id,
            "redemption_id": redemption,
            "value": Money(5000, "EUR"),
            "redeemed_at": datetime(2026, 1, 2, 9, tzinfo=UTC),
        }
        assert records.record_points_redemption(session, **args) is True
        assert records.record_points_redemption(session, **args) is False
    [line] = _totals(client, tenant, 2026)
    # 100.00 + 50 EUR × 1.1000
    assert (line["total"]["amount"], line["payments"]) == ("155.00", 2)
