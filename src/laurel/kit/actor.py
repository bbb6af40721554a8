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
    departments: frozenset[str] | None = None
    learner_id: uuid.UUID | None = None

    @property
    def scoped(self) -> bool:
        """True when this caller sees only part of the organization's learners and rewards."""
        return self.departments is not None or self.learner_id is not None
