"""The sandbox provider: issues unique fake gift codes from its own ledger, fully offline.

It behaves like a careful real provider: the idempotency key is unique in its ledger, so a
repeated order returns the first code; codes are unique, so no code is handed out twice. Its
ledger lives in the same database but is written in its own transaction, exactly as an outside
system would: it knows nothing of Laurel's transaction that asked.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from typing import Any

from sqlalchemy import select

from laurel.db import Database
from laurel.delivery.models import SandboxIssuance
from laurel.delivery.providers import CatalogOffer, Issued, IssueOrder
from laurel.kit.clock import utcnow
from laurel.kit.ids import uuid7
from laurel.kit.sql import insert_ignore

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: codes are typed by people


def new_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    return "SBX-" + "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def _offer(
    sku: str, brand: str, kind: str, code: str, countries: str, **values: Any
) -> CatalogOffer:
    return CatalogOffer(
        provider="sandbox",
        sku=sku,
        brand=brand,
        kind=kind,
        currency=code,
        countries=tuple(countries.split()) if countries else (),
        **values,
    )


SANDBOX_CATALOG = (
    _offer(
        "SBX-BOOKS-US", "Sandbox Books", "gift_card", "USD", "US", min_minor=100, max_minor=50000
    ),
    _offer(
        "SBX-VISA-US",
        "Sandbox Prepaid Visa",
        "prepaid_card",
        "USD",
        "US",
        fixed_values_minor=(1000, 2500, 5000, 10000),
    ),
    _offer("SBX-HOODIE", "Sandbox Hoodie", "merchandise", "USD", "US", fixed_values_minor=(4000,)),
    _offer(
        "SBX-STORE-EU",
        "Sandbox Store Europe",
        "gift_card",
        "EUR",
        "DE ES FR IT NL PT",
        min_minor=500,
        max_minor=25000,
    ),
    _offer(
        "SBX-TIENDA-MX",
        "Sandbox Tienda",
        "gift_card",
        "MXN",
        "MX",
        min_minor=10000,
        max_minor=500000,
    ),
    _offer(
        "SBX-LOJA-BR", "Sandbox Loja", "gift_card", "BRL", "BR", min_minor=2000, max_minor=100000
    ),
    _offer("SBX-MISE-JP", "Sandbox Mise", "gift_card", "JPY", "JP", min_minor=500, max_minor=50000),
    _offer(
        "SBX-TREES",
        "Sandbox Trees (charity)",
        "charity",
        "USD",
        "",
        min_minor=100,
        max_minor=1000000,
    ),
)


class SandboxProvider:
    name = "sandbox"

    def __init__(self, database: Database, currencies: Collection[str] = ()) -> None:
        self.database = database
        self.currencies = frozenset(currencies)
        """Currencies it pays converted rewards in (``LAUREL_SANDBOX_CURRENCIES``)."""

    def pays_in(self, reward_kind: str, currency: str) -> bool:
        return currency in self.currencies

    def issue(self, order: IssueOrder) -> Issued:
        with self.database.session() as session:
            insert_ignore(
                session,
                SandboxIssuance.__table__,  # type: ignore[arg-type]
                {
                    "id": uuid7(),
                    "organization_id": order.organization_id,
                    "idempotency_key": order.idempotency_key,
                    "code": new_code(),
                    "amount_minor": order.amount.minor,
                    "currency": order.amount.currency,
                    "created_at": utcnow(),
                },
                ["idempotency_key"],
            )
            row = session.scalars(
                select(SandboxIssuance).where(
                    SandboxIssuance.idempotency_key == order.idempotency_key
                )
            ).one()
            return _issued(row)

    def catalog(self) -> list[CatalogOffer]:
        """A small fixed catalog, so the demo and tests have choices in a few countries."""
        return list(SANDBOX_CATALOG)

    def lookup(self, idempotency_key: str) -> Issued | None:
        with self.database.session() as session:
            row = session.scalar(
                select(SandboxIssuance).where(SandboxIssuance.idempotency_key == idempotency_key)
            )
            return _issued(row) if row is not None else None


def _issued(row: SandboxIssuance) -> Issued:
    return Issued(
        reference=f"sbx_{row.id.hex}",
        details={
            "code": row.code,
            "amount_minor": row.amount_minor,
            "currency": row.currency,
            "sandbox": True,
        },
    )
