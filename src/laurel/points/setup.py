"""An organization's points settings: marketplace rate and program, grant approvals, privacy."""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import field_error
from laurel.points.models import PointsSettings


def get(session: Session, organization_id: uuid.UUID) -> PointsSettings:
    """The organization's settings; defaults (not stored) when it never set any."""
    found = session.scalar(
        select(PointsSettings).where(PointsSettings.organization_id == organization_id)
    )
    if found is not None:
        return found
    return PointsSettings(
        organization_id=organization_id,
        points_per_unit=100,
        redemption_program_id=None,
        grant_approval_threshold=None,
        private_countries=[],
    )


@cache
def _private_sql() -> Any:
    table: Table = PointsSettings.__table__  # type: ignore[assignment]
    return select(table.c.private_countries).where(table.c.organization_id == bindparam("_org"))


def private_countries(session: Session, organization_id: uuid.UUID) -> list[str]:
    """The organization's own privacy countries (empty: the default list), one small read."""
    found = session.scalar(_private_sql(), {"_org": organization_id})
    return list(found or [])


def update(session: Session, actor: Actor, changes: dict[str, Any]) -> PointsSettings:
    if "points_per_unit" in changes and (changes["points_per_unit"] or 0) < 1:
        raise field_error("points_per_unit", "must be 1 or more")
    if changes.get("redemption_program_id") is not None:
        from laurel.programs import service as programs  # noqa: PLC0415 - import cycle

        view = programs.get(session, actor, changes["redemption_program_id"])
        if view.version.currency == "PTS":
            raise field_error(
                "redemption_program_id", "must pay money or goods, not points (currency PTS)"
            )
    row = session.scalar(
        select(PointsSettings)
        .where(PointsSettings.organization_id == actor.organization_id)
        .with_for_update()
    )
    if row is None:
        row = get(session, actor.organization_id)
        session.add(row)
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="points:settings:update",
        target_type="organization",
        target_id=actor.organization_id,
        details={k: str(v) if isinstance(v, uuid.UUID) else v for k, v in changes.items()},
    )
    return row
