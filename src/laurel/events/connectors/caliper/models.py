from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit.orm import Base, TenantMixin


class CaliperEvent(TenantMixin, Base):
    """Every accepted Caliper event, as received, whether or not it became a completion."""

    __tablename__ = "caliper_events"
    __table_args__ = (UniqueConstraint("organization_id", "livemode", "event_key"),)

    livemode: Mapped[bool] = mapped_column(default=True)
    event_key: Mapped[str] = mapped_column(String(300))
    """The event's own ``id`` (``urn:uuid:…``): a resent envelope stores nothing twice."""
    body_hash: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    sensor: Mapped[str] = mapped_column(String(2048))
    data_version: Mapped[str] = mapped_column(String(200))
    event_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("completion_events.id"), default=None
    )
    outcome: Mapped[str | None] = mapped_column(String(32), default=None)
    note: Mapped[str] = mapped_column(String(500), default="")
    event: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Empty: the event is in ``event_sealed``."""
    event_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    """The event as received, sealed under the learner's key when it became a completion,
    else under the key ring (:mod:`laurel.learners.sealing`)."""
