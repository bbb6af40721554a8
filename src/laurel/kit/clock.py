"""Timezone-aware UTC time. Naive datetimes never enter the system."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
