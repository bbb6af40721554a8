"""HTTP for screening: manual checks, list versions and imports, review cases."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from laurel.kit.http import (
    Admin,
    Cursor,
    DatabaseDep,
    Limit,
    LiveAdmin,
    errors,
    read_only,
    unit_of_work,
)
from laurel.kit.schemas import PageOut
from laurel.screening import cases, service, sources
from laurel.screening.models import CaseStatus
from laurel.screening.schemas import (
    CaseOut,
    CheckIn,
    CheckOut,
    DecisionIn,
    ImportIn,
    ImportOut,
    ListVersionOut,
    UnblockOut,
)

router = APIRouter(prefix="/api/v1/screening", tags=["screening"])


@router.post(
    "/check",
    response_model=CheckOut,
    responses=errors(401, 403, 422),
    summary="Screen a name (and country) against the newest sanctions lists",
)
def check_name(body: CheckIn, actor: Admin, db: DatabaseDep) -> CheckOut:
    with unit_of_work(db) as session:
        screening, result = service.check(
            session,
            organization_id=actor.organization_id,
            livemode=actor.livemode,
            actor=actor.name,
            name=body.name,
            country=body.country,
        )
        return CheckOut.of(screening, result.id)


@router.get(
    "/lists",
    response_model=list[ListVersionOut],
    responses=errors(401, 403),
    summary="Imported list versions, newest first",
)
def list_list_versions(actor: Admin, db: DatabaseDep) -> list[ListVersionOut]:
    with read_only(db) as session:
        return [ListVersionOut.of(v) for v in service.list_versions(session)]


@router.post(
    "/lists",
    response_model=ImportOut,
    responses=errors(401, 403, 422),
    summary="Import the SDN and consolidated lists from a base URL (live admin key)",
    description="Downloads the legacy CSV files, stores them as a new list version unless the "
    "same files were imported before, and re-screens rewards held for screening. Lists are "
    "shared by every organization; the import is recorded in every organization's audit trail.",
)
def import_lists(body: ImportIn, actor: LiveAdmin, db: DatabaseDep) -> ImportOut:
    fetched = sources.fetch(body.url)  # before the transaction: no lock held while downloading
    with unit_of_work(db) as session:
        outcome = service.store_version(
            session, fetched, actor=actor.name, list_date=body.list_date
        )
        rescreened = cases.rescreen_held(session, actor.name) if outcome.created else 0
        return ImportOut(
            version=ListVersionOut.of(outcome.version),
            created=outcome.created,
            rescreened=rescreened,
        )


@router.get(
    "/cases",
    response_model=PageOut[CaseOut],
    responses=errors(401, 403, 422),
    summary="Review cases, newest first",
)
def list_cases(
    actor: Admin,
    db: DatabaseDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    status: CaseStatus | None = None,
) -> PageOut[CaseOut]:
    with read_only(db) as session:
        page, views = cases.list_cases(session, actor, limit=limit, cursor=cursor, status=status)
        return PageOut[CaseOut](
            data=[CaseOut.of(v) for v in views],
            next_cursor=str(page.next_cursor) if page.next_cursor else None,
        )


@router.get(
    "/cases/{case_id}",
    response_model=CaseOut,
    responses=errors(401, 403, 404),
    summary="A review case: the query, the matched entries with programs and remarks, scores",
)
def get_case(case_id: uuid.UUID, actor: Admin, db: DatabaseDep) -> CaseOut:
    with read_only(db) as session:
        return CaseOut.of(cases.get(session, actor, case_id))


@router.post(
    "/cases/{case_id}/clear",
    response_model=CaseOut,
    responses=errors(401, 403, 404, 409, 422),
    summary="Not the listed person: the reward continues through the pipeline",
)
def clear_case(case_id: uuid.UUID, body: DecisionIn, actor: Admin, db: DatabaseDep) -> CaseOut:
    with unit_of_work(db) as session:
        return CaseOut.of(cases.clear(session, actor, case_id, body.reason))


@router.post(
    "/cases/{case_id}/confirm",
    response_model=CaseOut,
    responses=errors(401, 403, 404, 409, 422),
    summary="The listed person: reward cancelled, learner blocked, report record kept",
)
def confirm_case(case_id: uuid.UUID, body: DecisionIn, actor: Admin, db: DatabaseDep) -> CaseOut:
    with unit_of_work(db) as session:
        return CaseOut.of(cases.confirm(session, actor, case_id, body.reason))


@router.post(
    "/learners/{learner_id}/unblock",
    response_model=UnblockOut,
    responses=errors(401, 403, 404, 409, 422),
    summary="Lift a learner's sanctions block; their rewards held for it are checked again",
)
def unblock_learner(
    learner_id: uuid.UUID, body: DecisionIn, actor: Admin, db: DatabaseDep
) -> UnblockOut:
    with unit_of_work(db) as session:
        return UnblockOut(rechecked=cases.unblock(session, actor, learner_id, body.reason))
