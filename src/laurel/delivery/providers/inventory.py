"""The ``inventory`` provider: hands out the organization's own pre-purchased gift codes.

It runs in its own transaction, like an outside system would: allocating a code commits before
the worker records the delivery, and a second ``issue`` or a ``lookup`` for the same reward
answers the same code. No code left is a transient error (the reward is retried later); the
inventory gate holds new rewards before it comes to that.
"""

from __future__ import annotations

import uuid
from typing import Any

from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.inventory import service
from laurel.delivery.inventory.sealing import CodeBox
from laurel.delivery.providers import (
    Balance,
    CatalogOffer,
    Issued,
    IssueOrder,
    TransientProviderError,
)
from laurel.kit.money import Money

OUT_OF_STOCK_RETRY_SECONDS = 300.0


class InventoryProvider:
    name = service.PROVIDER

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.box = CodeBox(settings.secret_key)
        self.default_threshold = settings.inventory_low_stock

    def issue(self, order: IssueOrder) -> Issued:
        with self.database.session() as session:
            code = service.allocate(
                session,
                order.organization_id,
                order.idempotency_key,
                order.amount,
                self.box,
                brand=order.sku,
            )
            if code is None:
                brand = f"{order.sku} " if order.sku else ""
                raise TransientProviderError(
                    f"no {brand}{order.amount} code in stock", OUT_OF_STOCK_RETRY_SECONDS
                )
            service.refresh_alerts(
                session,
                order.organization_id,
                [(code.brand, code.value.currency, code.value.minor)],
                "worker",
                self.default_threshold,
            )
            return _issued(code)

    def lookup(self, idempotency_key: str) -> Issued | None:
        with self.database.read_session() as session:
            code = service.allocation(session, idempotency_key, self.box)
        return _issued(code) if code is not None else None

    def catalog(self, organization_id: uuid.UUID | None = None) -> list[CatalogOffer]:
        """One offer per brand and currency in the organization's stock, with the values in
        stock. Codes belong to one organization, so without one there is nothing to offer
        (never another tenant's brands)."""
        values: dict[tuple[str, str], set[int]] = {}
        for level in self._levels(organization_id):
            if level.available > 0:
                values.setdefault((level.brand, level.currency), set()).add(level.value_minor)
        return [
            CatalogOffer(
                provider=self.name,
                sku=brand,
                brand=brand,
                kind="gift_card",
                currency=currency,
                countries=(),
                fixed_values_minor=tuple(sorted(found)),
            )
            for (brand, currency), found in sorted(values.items())
        ]

    def balance(self, organization_id: uuid.UUID | None = None) -> list[Balance]:
        """Face value of the organization's codes in stock, per brand and currency."""
        totals: dict[tuple[str, str], int] = {}
        for level in self._levels(organization_id):
            key = (level.brand, level.currency)
            totals[key] = totals.get(key, 0) + level.available * level.value_minor
        return [
            Balance(account=brand, available=Money(total, currency))
            for (brand, currency), total in sorted(totals.items())
        ]

    def _levels(self, organization_id: uuid.UUID | None) -> list[service.StockLevel]:
        if organization_id is None:
            return []
        with self.database.read_session() as session:
            return service.stock(session, organization_id, self.default_threshold)


def _issued(code: service.Allocated) -> Issued:
    details: dict[str, Any] = {
        "code": code.code,
        "brand": code.brand,
        "amount_minor": code.value.minor,
        "currency": code.value.currency,
    }
    if code.pin:
        details["pin"] = code.pin
    if code.expires_on:
        details["expires_on"] = code.expires_on.isoformat()
    return Issued(reference=f"inv_{code.id.hex}", details=details)
