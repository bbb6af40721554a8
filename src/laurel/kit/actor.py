"""Who is acting: every service call that changes something names its actor for the audit log."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Actor:
    """A resolved caller: ``apikey:<id>``, ``user:<id>``, ``cli:<user>``, ``worker`` or ``system``.

    ``departments`` and ``learner_id`` narrow what the caller may see on the route being served
    (set by the permission table, ``laurel.auth.permissions``): a department manager sees only
    learners of those departments and their rewards, a learner only their own. ``None`` means
    the whole organization. Services that list or fetch learners and rewards apply them.
    """

    name: str
    organization_id: uuid.UUID
    livemode: bool = True
    scopes: frozenset[str] = field(default_factory=frozenset)
    roles: frozenset[str] = field(default_factory=frozenset)
    """Business roles (``finance``, ``compliance``, ``org_admin``): who may decide what."""
    user_id: uuid.UUID | None = None
    """The person behind the caller, when known (a user's session or a user's key)."""
    departments: frozenset[str] | None = None
    learner_id: uuid.UUID | None = None

    @property
    def identities(self) -> frozenset[str]:
        """Every name this caller is known by: four-eyes rules compare these."""
        names = {self.name}
        if self.user_id is not None:
            names.add(f"user:{self.user_id}")
        return frozenset(names)

    @property
    def scoped(self) -> bool:
        """True when this caller sees only part of the organization's learners and rewards."""
        return self.departments is not None or self.learner_id is not None
