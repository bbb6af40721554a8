from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, false
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit.clock import utcnow
from laurel.kit.orm import Base, IdMixin


class Organization(IdMixin, Base):
    __tablename__ = "organizations"

    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    default_currency: Mapped[str] = mapped_column(String(3), default="USD")
    brand: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """White-label settings (name, logo URL, colours, sender address) for pages and email."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    fx_fee_bps: Mapped[int] = mapped_column(default=0, server_default="0")
    """FX fee in basis points of a converted reward, taken from the converted amount and shown."""
    config_revision: Mapped[int] = mapped_column(default=0, server_default="0")
    """Bumped by every program or rule change, so cached decision data knows it is stale."""
    hipaa: Mapped[bool] = mapped_column(default=False, server_default=false())
    """Training data may touch health information: PHI fields are kept apart and every read of
    them is audited (docs/privacy.md)."""
