"""Who is acting: every service call that changes something names its actor for the audit log."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Actor:
    """A resolved caller: ``apikey:<id>``, ``user:<id>``, ``cli:<user>``, ``worker`` or
    ``system``."""

    name: str
    organization_id: uuid.UUID
    livemode: bool = True
    scopes: frozenset[str] = field(default_factory=frozenset)
    roles: frozenset[str] = field(default_factory=frozenset)
    """Business roles (``finance``, ``compliance``, ``org_admin``): who may decide what."""
    user_id: uuid.UUID | None = None
    """The person behind the caller, when known (a user's session or a user's key)."""

    @property
    def identities(self) -> frozenset[str]:
        """Every name this caller is known by: four-eyes rules compare these."""
        names = {self.name}
        if self.user_id is not None:
            names.add(f"user:{self.user_id}")
        return frozenset(names)
