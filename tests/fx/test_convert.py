"""Conversions against stored rates: cross rates, weekends, staleness, the fee, exactness."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from laurel.db import Database
from laurel.fx import ecb, service
from laurel.fx.service import NoRate
from laurel.kit.money import Money
from tests.conftest import Tenant
from tests.fx.samples import HISTORY_CSV


def _load(database: Database) -> None:
    with database.session() as session:
        service.store(session, ecb.parse(HISTORY_CSV.encode()), source="ecb", actor="test")


def test_import_twice_changes_nothing(database: Database, tenant: Tenant) -> None:
    with database.session() as session:
        first = service.store(session, ecb.parse(HISTORY_CSV.encode()), source="ecb", actor="t")
    with database.session() as session:
        again = service.store(session, ecb.parse(HISTORY_CSV.encode()), source="ecb", actor="t")
    assert (first.inserted, first.unchanged) == (16, 0)
    assert (again.inserted, again.unchanged) == (0, 16)
    assert (first.first_day, first.last_day) == (date(2026, 11, 10), date(2026, 11, 25))


def test_cross_rate_through_the_euro_exactly(database: Database, tenant: Tenant) -> None:
    _load(database)
    with database.session() as session:
        done = service.convert(session, tenant.id, Money(2500, "USD"), "JPY", date(2026, 11, 25))
        assert done.rate == Decimal("160.12") / Decimal("1.0450")
        # 25 USD / 1.0450 * 160.12 = 3830.62… JPY, which has no minor unit.
        assert done.converted == Money(3831, "JPY")
        assert done.fee == Money(0, "JPY")
        assert (done.rate_date, done.source) == (date(2026, 11, 25), "ecb")
        euros = service.convert(session, tenant.id, Money(10000, "GBP"), "EUR", date(2026, 11, 25))
        assert euros.converted == Money(11983, "EUR")  # 100 / 0.83455 = 119.825…


def test_a_weekend_uses_the_last_publication_and_stale_rates_are_refused(
    database: Database, tenant: Tenant
) -> None:
    _load(database)
    with database.session() as session:
        saturday = service.convert(
            session, tenant.id, Money(1000, "EUR"), "USD", date(2026, 11, 21)
        )
        assert saturday.rate_date == date(2026, 11, 20)
        assert saturday.converted == Money(1030, "USD")
        with pytest.raises(NoRate) as caught:
            service.convert(session, tenant.id, Money(1000, "EUR"), "USD", date(2026, 11, 19))
        assert caught.value.detail["currency"] == "USD"
        assert "2026-11-19" in caught.value.detail["message"]
        with pytest.raises(NoRate):
            service.convert(session, tenant.id, Money(1000, "EUR"), "USD", date(2026, 12, 10))


def test_fee_is_taken_from_the_converted_amount_and_shown(
    database: Database, tenant: Tenant
) -> None:
    _load(database)
    with database.session() as session:
        service.set_fee(session, tenant.id, 150, actor="test")
    with database.session() as session:
        done = service.convert(session, tenant.id, Money(10000, "EUR"), "USD", date(2026, 11, 25))
        assert done.fee == Money(157, "USD")  # 1.5 % of 104.50
        assert done.converted == Money(10450 - 157, "USD")
        same = service.convert(session, tenant.id, Money(10000, "USD"), "USD", date(2026, 11, 25))
        assert (same.converted, same.fee.minor) == (Money(10000, "USD"), 0)
        assert service.to_usd(session, tenant.id, Money(10000, "EUR"), date(2026, 11, 25)) == Money(
            10450, "USD"
        )
