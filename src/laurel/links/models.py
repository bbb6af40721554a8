"""Reward links: single-use, expiring URLs where a learner picks and redeems their reward."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit.clock import utcnow
from laurel.kit.orm import Base, TenantMixin


class LinkStatus(StrEnum):
    open = "open"
    """Waiting for the learner's choice (expired once ``expires_at`` has passed)."""
    redeeming = "redeeming"
    """A choice was claimed and the provider is being asked; no other request may issue."""
    redeemed = "redeemed"
    expired = "expired"
    """Its time ran out before it was redeemed; a reissue gives the reward a new link."""
    revoked = "revoked"
    """Replaced by a reissued link, or the reward was expired: it opens nothing."""


class RewardLink(TenantMixin, Base):
    """One link for one reward and the completion that earned it.

    The URL carries a token derived from ``salt`` with the deployment's secret key; only the
    token's SHA-256 is stored, so the table alone neither reveals nor forges a link. Reissuing
    adds a row with the next ``generation`` and revokes the old one in the same transaction.
    """

    __tablename__ = "reward_links"
    __table_args__ = (
        UniqueConstraint("reward_id", "generation"),
        Index(None, "organization_id", "reward_id"),
        Index(None, "status", "expires_at"),
    )

    reward_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rewards.id"))
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("completion_events.id"))
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id"))
    learner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learners.id"))
    livemode: Mapped[bool] = mapped_column(default=True)
    generation: Mapped[int] = mapped_column(default=1)
    salt: Mapped[str] = mapped_column(String(64))
    """Hex of 32 random bytes; with the secret key it yields the token."""
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """SHA-256 (hex) of the token in the URL: how a visit finds its link."""
    status: Mapped[str] = mapped_column(String(16), default=LinkStatus.open)
    expires_at: Mapped[datetime]
    opened_at: Mapped[datetime | None] = mapped_column(default=None)
    opens: Mapped[int] = mapped_column(default=0)
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    """When the current redemption attempt took the link; older than the lease: abandoned."""
    attempts: Mapped[int] = mapped_column(default=0)
    catalog_item_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("catalog_items.id"), default=None
    )
    """The item chosen; fixed at the first claim so a retry issues the same thing."""
    provider: Mapped[str | None] = mapped_column(String(64), default=None)
    provider_reference: Mapped[str | None] = mapped_column(String(200), default=None)
    redeemed_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(String(1000), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class LinkSettings(TenantMixin, Base):
    """A program's link settings: how long its links last and the brand its pages wear."""

    __tablename__ = "link_settings"
    __table_args__ = (UniqueConstraint("organization_id", "program_id"),)

    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id"))
    lifetime_days: Mapped[int | None] = mapped_column(default=None)
    """None: the deployment's ``LAUREL_LINK_LIFETIME_DAYS``."""
    brand: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Overrides the organization's brand: name, logo_url, primary_color, accent_color,
    support_contact."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
