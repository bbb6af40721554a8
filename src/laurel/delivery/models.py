from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit.orm import Base, TenantMixin


class Delivery(TenantMixin, Base):
    """What the provider handed over for one reward. One row per reward, ever."""

    __tablename__ = "deliveries"

    reward_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rewards.id"), unique=True)
    provider: Mapped[str] = mapped_column(String(64))
    provider_reference: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Provider-specific: code, PIN, redemption URL, expiry."""
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
