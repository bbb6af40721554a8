from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit import crypto
from laurel.kit.clock import utcnow
from laurel.kit.orm import Base, TenantMixin

SEALED = crypto.register("deliveries", "secrets_sealed", context="delivery:secrets")
"""Delivered codes, PINs and redemption URLs (:mod:`laurel.delivery.secrets`)."""


class Delivery(TenantMixin, Base):
    """What the provider handed over for one reward. One row per reward, ever."""

    __tablename__ = "deliveries"

    reward_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rewards.id"), unique=True)
    provider: Mapped[str] = mapped_column(String(64))
    provider_reference: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Provider-specific: expiry, brand, value. Its code, PIN and redemption URL are here
    masked (last characters only); the values are in ``secrets_sealed``."""
    secrets_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    """The code, PIN and redemption URL, as JSON encrypted with the key ring
    (:data:`laurel.delivery.secrets.SEALED`); None when nothing secret was delivered."""
    delivered_at: Mapped[datetime]


class SandboxIssuance(TenantMixin, Base):
    """The sandbox provider's own ledger: it plays an outside system that remembers orders.

    Unique on the idempotency key (a replay returns the first issuance) and on the code (no code
    is ever handed out twice).
    """

    __tablename__ = "sandbox_issuances"

    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    amount_minor: Mapped[int]
    """Amount in minor units of ``currency``."""
    currency: Mapped[str] = mapped_column(String(3))


class InventoryCode(TenantMixin, Base):
    """One pre-purchased gift code an organization uploaded (the ``inventory`` provider).

    The code and PIN are Fernet-sealed (:mod:`laurel.delivery.inventory.sealing`); ``code_hash``
    is a keyed HMAC of the code, unique per organization, so a code uploaded twice is found
    without decrypting anything. ``allocated_to`` is the idempotency key (reward id) the code
    was handed to: unique, so no code serves two rewards and no reward gets two codes.
    """

    __tablename__ = "inventory_codes"
    __table_args__ = (
        UniqueConstraint("organization_id", "code_hash"),
        UniqueConstraint("allocated_to"),
        Index(None, "organization_id", "currency", "value_minor"),
        # Allocation reads the first unallocated code to expire: one index probe, whatever
        # the stock.
        Index(
            "ix_inventory_codes_available",
            "organization_id",
            "currency",
            "value_minor",
            "use_by",
            sqlite_where=text("allocated_to IS NULL"),
            postgresql_where=text("allocated_to IS NULL"),
        ),
    )

    brand: Mapped[str] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    value_minor: Mapped[int]
    """Face value in minor units of ``currency``."""
    code_sealed: Mapped[str] = mapped_column(Text)
    pin_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    code_hash: Mapped[str] = mapped_column(String(64))
    expires_on: Mapped[date | None] = mapped_column(Date, default=None)
    """Last day the code can be used; None: it does not expire."""
    use_by: Mapped[date] = mapped_column(Date)
    """``expires_on``, or 9999-12-31 for a code that does not expire (soonest first)."""
    upload_id: Mapped[uuid.UUID]
    uploaded_by: Mapped[str] = mapped_column(String(200))
    allocated_to: Mapped[str | None] = mapped_column(String(200), default=None)
    allocated_at: Mapped[datetime | None] = mapped_column(default=None)


class InventoryStock(TenantMixin, Base):
    """Per denomination (brand, value, currency): the low-stock threshold and alert state.

    ``low_since`` is set when the available count falls below the threshold (one audit entry
    per crossing, not one per allocation) and cleared when stock is back.
    """

    __tablename__ = "inventory_stock"
    __table_args__ = (UniqueConstraint("organization_id", "brand", "currency", "value_minor"),)

    brand: Mapped[str] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    value_minor: Mapped[int]
    """Face value in minor units of ``currency``."""
    threshold: Mapped[int | None] = mapped_column(default=None)
    """Alert below this many available codes; None: ``LAUREL_INVENTORY_LOW_STOCK``."""
    low_since: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProviderRoute(TenantMixin, Base):
    """Which providers issue a program's rewards of one kind, in order of preference."""

    __tablename__ = "provider_routes"
    __table_args__ = (UniqueConstraint("organization_id", "program_id", "reward_kind"),)

    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id"))
    reward_kind: Mapped[str] = mapped_column(String(32))
    providers: Mapped[list[Any]] = mapped_column(default=list)
    """Provider names, first choice first; the next is used only when the one before is down."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200), default="")


class ProviderAttempt(TenantMixin, Base):
    """A provider that was sent (or may have been sent) an order for a reward.

    Written and committed before the call, so after a crash or a failover every provider that
    might have issued is asked (``lookup``) before any other is tried: never paid twice.
    """

    __tablename__ = "provider_attempts"
    __table_args__ = (UniqueConstraint("reward_id", "provider"),)

    reward_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rewards.id"))
    provider: Mapped[str] = mapped_column(String(64))
