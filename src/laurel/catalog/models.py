"""Catalog items a learner can choose from, and how each reward was converted to be paid."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit.clock import utcnow
from laurel.kit.orm import Base, TenantMixin


class ItemKind(StrEnum):
    gift_card = "gift_card"
    prepaid_card = "prepaid_card"
    merchandise = "merchandise"
    charity = "charity"


class ItemSource(StrEnum):
    sync = "sync"
    """Described by a provider's catalog; ``laurel catalog sync`` keeps it current."""
    manual = "manual"
    """Entered by an admin; sync never touches it."""


class CatalogItem(TenantMixin, Base):
    """One thing a provider can issue, as this organization offers it.

    Offered to a learner only while ``active`` (the admin's choice) and not withdrawn (the
    provider still lists it). Values are either ``fixed_values_minor`` or the range
    ``min_minor``..``max_minor``, all in minor units of ``currency``.
    """

    __tablename__ = "catalog_items"
    __table_args__ = (
        UniqueConstraint("organization_id", "provider", "sku"),
        Index(None, "organization_id", "active"),
    )

    provider: Mapped[str] = mapped_column(String(64))
    sku: Mapped[str] = mapped_column(String(200))
    """The provider's product id (Tango utid, Tremendous product id, inventory brand)."""
    brand: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    countries: Mapped[list[Any]] = mapped_column(default=list)
    """ISO 3166-1 alpha-2 codes where it can be used; empty means everywhere."""
    fixed_values_minor: Mapped[list[Any]] = mapped_column(default=list)
    """Denominations in minor units of ``currency``; empty for a range item."""
    min_minor: Mapped[int | None] = mapped_column(default=None)
    """Smallest value of a range item, in minor units of ``currency``."""
    max_minor: Mapped[int | None] = mapped_column(default=None)
    """Largest value of a range item, in minor units of ``currency``."""
    image_url: Mapped[str | None] = mapped_column(String(2000), default=None)
    active: Mapped[bool] = mapped_column(default=True)
    source: Mapped[str] = mapped_column(String(16), default=ItemSource.manual)
    withdrawn_at: Mapped[datetime | None] = mapped_column(default=None)
    """When the provider's catalog stopped listing it; None while listed (or manual)."""
    offer_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    """Hash of the provider's description at the last sync: a sync rewrites the item only
    when the provider changed it, so an admin's edit stands until then."""
    synced_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RewardConversion(TenantMixin, Base):
    """What a reward became in the currency it was paid in, fixed when it was paid.

    One per reward. Amounts are minor units of their own currency; ``usd_minor`` is the USD
    equivalent (cents) at the rate of ``converted_on``, kept for tax aggregation.
    """

    __tablename__ = "reward_conversions"

    reward_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rewards.id"), unique=True)
    from_minor: Mapped[int]
    """The reward's amount, in minor units of ``from_currency`` (the program's)."""
    from_currency: Mapped[str] = mapped_column(String(3))
    to_minor: Mapped[int]
    """What is issued, in minor units of ``to_currency`` (the chosen item's), after the fee."""
    to_currency: Mapped[str] = mapped_column(String(3))
    fee_minor: Mapped[int] = mapped_column(default=0)
    """The conversion fee, in minor units of ``to_currency``."""
    rate: Mapped[str] = mapped_column(String(40))
    """Units of ``to_currency`` per unit of ``from_currency``, a decimal string; "1" if same."""
    rate_date: Mapped[date | None] = mapped_column(default=None)
    source: Mapped[str] = mapped_column(String(64))
    """Where the rate came from (``ecb``, a provider), or ``same_currency``."""
    usd_minor: Mapped[int]
    """USD equivalent of the reward, in cents."""
    converted_on: Mapped[date]
    wanted_currency: Mapped[str | None] = mapped_column(String(3), default=None)
    """The learner's currency (from their country), when it differs from the program's."""
    fallback_reason: Mapped[str | None] = mapped_column(String(300), default=None)
    """Why the reward was paid in the program's currency rather than ``wanted_currency``."""
