"""Rows that events create on first sight (learners, courses), safe under concurrent events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from laurel.kit.clock import utcnow
from laurel.kit.ids import uuid7
from laurel.kit.orm import ExternalMixin
from laurel.kit.sql import insert_ignore

R = TypeVar("R", bound=ExternalMixin)


@dataclass(frozen=True, slots=True)
class Observed(Generic[R]):
    row: R
    created: bool
    changed: list[str]


def observe(
    session: Session,
    model: type[R],
    *,
    organization_id: uuid.UUID,
    livemode: bool,
    external_id: str,
    defaults: dict[str, Any],
    changes: dict[str, Any],
) -> Observed[R]:
    """Find the row by its natural key or create it; apply what the event says about it.

    The common case (the row exists) is one SELECT. Creation is an insert that ignores a
    conflict on the natural key, so two events naming a new learner at once create one row.
    """
    query = select(model).where(
        model.organization_id == organization_id,
        model.livemode == livemode,
        model.external_id == external_id,
    )
    row = session.scalars(query).one_or_none()
    created = False
    if row is None:
        now = utcnow()
        created = insert_ignore(
            session,
            model.__table__,  # type: ignore[attr-defined]
            {
                "id": uuid7(),
                "organization_id": organization_id,
                "livemode": livemode,
                "external_id": external_id,
                "created_at": now,
                "updated_at": now,
                **defaults,
                **changes,
            },
            ["organization_id", "livemode", "external_id"],
        )
        row = session.scalars(query).one()
        if created:
            return Observed(row, True, [])
    changed = sorted(k for k, v in changes.items() if getattr(row, k) != v)
    for name in changed:
        setattr(row, name, changes[name])
    if changed:
        row.updated_at = utcnow()
    return Observed(row, created, changed)
