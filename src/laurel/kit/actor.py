"""Who is acting: every service call that changes something names its actor for the audit log."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Actor:
    """A resolved caller: ``apikey:<id>``, ``cli:<user>``, ``worker`` or ``system``."""

    name: str
    organization_id: uuid.UUID
    livemode: bool = True
    scopes: frozenset[str] = field(default_factory=frozenset)
