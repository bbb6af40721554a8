"""HTTP for FCPA: the organization's limits (compliance reads and changes them; audited)."""

from __future__ import annotations

from fastapi import APIRouter

from laurel.fcpa import settings
from laurel.fcpa.schemas import FcpaSettingsIn, FcpaSettingsOut
from laurel.kit.http import Admin, DatabaseDep, LiveAdmin, errors, read_only, unit_of_work

router = APIRouter(prefix="/api/v1/fcpa", tags=["fcpa"])


@router.get(
    "/settings",
    response_model=FcpaSettingsOut,
    responses=errors(401, 403),
    summary="The organization's FCPA limits (its own, or the defaults)",
)
def get_fcpa_settings(actor: Admin, db: DatabaseDep) -> FcpaSettingsOut:
    with read_only(db) as session:
        return FcpaSettingsOut.of(settings.policy(session, actor.organization_id))


@router.patch(
    "/settings",
    response_model=FcpaSettingsOut,
    responses=errors(401, 403, 422),
    summary="Change the FCPA limits (audited; applies to rewards judged from now on)",
)
def update_fcpa_settings(
    body: FcpaSettingsIn, actor: LiveAdmin, db: DatabaseDep
) -> FcpaSettingsOut:
    with unit_of_work(db) as session:
        return FcpaSettingsOut.of(
            settings.update(
                session,
                actor,
                event_limit=body.event_limit.to_money() if body.event_limit else None,
                yearly_limit=body.yearly_limit.to_money() if body.yearly_limit else None,
            )
        )
