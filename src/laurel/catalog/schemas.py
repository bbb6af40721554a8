"""Pydantic shapes of the catalog API. Amounts are decimal strings in the item's currency."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from laurel.catalog.models import CatalogItem, ItemKind, ItemSource
from laurel.kit.money import Money
from laurel.kit.schemas import MoneyOut, refuse_null
from laurel.learners.schemas import Country

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Amount = Annotated[str, Field(examples=["25.00"], description="A decimal string")]
Url = Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=2000)]


class ItemFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    brand: Text | None = None
    kind: ItemKind | None = None
    currency: Annotated[str, StringConstraints(min_length=3, max_length=3)] | None = None
    countries: list[Country] | None = Field(
        default=None, description="Where it can be used (ISO 3166-1 alpha-2); empty: everywhere"
    )
    fixed_values: list[Amount] | None = Field(
        default=None, description="Denominations; give these or min_value and max_value"
    )
    min_value: Amount | None = None
    max_value: Amount | None = None
    image_url: Url | None = None
    active: bool | None = None


class ItemCreate(ItemFields):
    provider: Text
    sku: Text
    brand: Text
    kind: ItemKind
    currency: Annotated[str, StringConstraints(min_length=3, max_length=3)]
    countries: list[Country] = Field(default_factory=list)
    active: bool = True


class ItemUpdate(ItemFields):
    """Only the fields given change. Values are replaced as a whole: give ``fixed_values``,
    or ``min_value`` and ``max_value``."""

    _not_null = field_validator("brand", "kind", "currency", "countries", "active")(refuse_null)


class ItemOut(BaseModel):
    id: uuid.UUID
    provider: str
    sku: str
    brand: str
    kind: ItemKind
    currency: str
    countries: list[str]
    fixed_values: list[MoneyOut]
    min_value: MoneyOut | None
    max_value: MoneyOut | None
    image_url: str | None
    active: bool = Field(description="The organization offers it")
    available: bool = Field(description="The provider still lists it (always true for manual)")
    source: ItemSource
    synced_at: datetime | None
    updated_at: datetime

    @classmethod
    def of(cls, item: CatalogItem) -> ItemOut:
        def money(minor: int | None) -> MoneyOut | None:
            return None if minor is None else MoneyOut.of(minor, item.currency)

        return cls(
            id=item.id,
            provider=item.provider,
            sku=item.sku,
            brand=item.brand,
            kind=ItemKind(item.kind),
            currency=item.currency,
            countries=list(item.countries),
            fixed_values=[MoneyOut.of(v, item.currency) for v in item.fixed_values_minor],
            min_value=money(item.min_minor),
            max_value=money(item.max_minor),
            image_url=item.image_url,
            active=item.active,
            available=item.withdrawn_at is None,
            source=ItemSource(item.source),
            synced_at=item.synced_at,
            updated_at=item.updated_at,
        )


class ProviderSync(BaseModel):
    provider: str
    created: int = 0
    updated: int = 0
    withdrawn: int = 0
    unchanged: int = 0
    skipped: list[str] = Field(default_factory=list, description="Offers refused, and why")
    error: str | None = Field(default=None, description="The provider could not be asked")


class SyncOut(BaseModel):
    providers: list[ProviderSync]


class ChoiceOut(BaseModel):
    item: ItemOut
    receives: MoneyOut = Field(description="What the learner gets, in the item's currency")
    fee: MoneyOut
    rate: str
    rate_date: str | None
    rate_source: str


def money_out(money: Money) -> MoneyOut:
    return MoneyOut.of(money.minor, money.currency)
