"""Privacy: data-subject requests, consent records, retention policies."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from laurel.kit.clock import utcnow
from laurel.kit.crypto import KeyRing
from laurel.kit.http import DatabaseDep, LiveAdmin, errors, read_only, unit_of_work
from laurel.privacy import phi, retention, service
from laurel.privacy.models import DataKind, Jurisdiction, RequestStatus
from laurel.privacy.schemas import (
    ConsentCreate,
    ConsentOut,
    PhiIn,
    PhiOut,
    PrivacyProfileOut,
    PrivacyRequestCreate,
    PrivacyRequestOut,
    RefuseIn,
    RetentionPolicyIn,
    RetentionPolicyOut,
    RetentionRunOut,
)

router = APIRouter(prefix="/api/v1/privacy", tags=["privacy"])


async def _ring(request: Request) -> KeyRing:
    ring: KeyRing = request.app.state.key_ring
    return ring


Ring = Annotated[KeyRing, Depends(_ring)]


@router.post(
    "/requests",
    status_code=status.HTTP_201_CREATED,
    response_model=PrivacyRequestOut,
    responses=errors(401, 403, 404, 409, 422),
    summary="Open a data-subject request (access, deletion, correction, opt-out)",
)
def open_request(
    body: PrivacyRequestCreate, actor: LiveAdmin, db: DatabaseDep
) -> PrivacyRequestOut:
    with unit_of_work(db) as session:
        request = service.open_request(
            session,
            actor,
            learner_id=body.learner_id,
            kind=body.kind,
            corrections=body.corrections,
            received_at=body.received_at,
        )
        return PrivacyRequestOut.model_validate(request)


@router.get(
    "/requests",
    response_model=list[PrivacyRequestOut],
    responses=errors(401, 403, 422),
    summary="Privacy requests, soonest deadline first",
)
def list_requests(
    actor: LiveAdmin,
    db: DatabaseDep,
    state: Annotated[RequestStatus | None, Query(alias="status")] = None,
    learner_id: uuid.UUID | None = None,
    overdue: Annotated[bool, Query(description="Only open requests past their deadline")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[PrivacyRequestOut]:
    with read_only(db) as session:
        rows = service.list_requests(
            session,
            actor,
            status=RequestStatus.open if overdue else state,
            learner_id=learner_id,
            due_before=utcnow() if overdue else None,
            limit=limit,
        )
        return [PrivacyRequestOut.model_validate(r) for r in rows]


@router.get(
    "/requests/{request_id}",
    response_model=PrivacyRequestOut,
    responses=errors(401, 403, 404),
    summary="Get a privacy request",
)
def get_request(request_id: uuid.UUID, actor: LiveAdmin, db: DatabaseDep) -> PrivacyRequestOut:
    with read_only(db) as session:
        return PrivacyRequestOut.model_validate(service.get_request(session, actor, request_id))


@router.get(
    "/requests/{request_id}/archive",
    response_class=Response,
    responses={
        200: {"content": {"application/zip": {}}, "description": "JSON and CSV in one zip"},
        **errors(401, 403, 404, 409),
    },
    summary="Download an access request's archive (audited; answers the request)",
)
def download_archive(
    request_id: uuid.UUID, actor: LiveAdmin, db: DatabaseDep, ring: Ring
) -> Response:
    with unit_of_work(db) as session:
        made = service.access_archive(session, actor, request_id, ring)
    return Response(
        made.content,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{made.filename}"'},
    )


@router.post(
    "/requests/{request_id}/fulfil",
    response_model=PrivacyRequestOut,
    responses=errors(401, 403, 404, 409, 422),
    summary="Carry out a deletion, correction or opt-out request",
)
def fulfil_request(request_id: uuid.UUID, actor: LiveAdmin, db: DatabaseDep) -> PrivacyRequestOut:
    with unit_of_work(db) as session:
        return PrivacyRequestOut.model_validate(service.fulfil(session, actor, request_id))


@router.post(
    "/requests/{request_id}/refuse",
    response_model=PrivacyRequestOut,
    responses=errors(401, 403, 404, 409, 422),
    summary="Refuse a request (e.g. identity not verified), with the reason",
)
def refuse_request(
    request_id: uuid.UUID, body: RefuseIn, actor: LiveAdmin, db: DatabaseDep
) -> PrivacyRequestOut:
    with unit_of_work(db) as session:
        return PrivacyRequestOut.model_validate(
            service.refuse(session, actor, request_id, body.reason)
        )


@router.get(
    "/learners/{learner_id}",
    response_model=PrivacyProfileOut,
    responses=errors(401, 403, 404),
    summary="A learner's jurisdiction, consent records and privacy requests",
)
def get_profile(learner_id: uuid.UUID, actor: LiveAdmin, db: DatabaseDep) -> PrivacyProfileOut:
    with read_only(db) as session:
        found = service.profile(session, actor, learner_id)
        return PrivacyProfileOut(
            learner_id=found.learner_id,
            jurisdiction=found.jurisdiction,
            pseudonymised_at=found.pseudonymised_at,
            sale_opt_out_at=found.sale_opt_out_at,
            consents=[ConsentOut.model_validate(c) for c in found.consents],
            requests=[PrivacyRequestOut.model_validate(r) for r in found.requests],
        )


@router.post(
    "/learners/{learner_id}/consents",
    status_code=status.HTTP_201_CREATED,
    response_model=ConsentOut,
    responses=errors(401, 403, 404, 422),
    summary="Record a consent given or withdrawn",
)
def record_consent(
    learner_id: uuid.UUID, body: ConsentCreate, actor: LiveAdmin, db: DatabaseDep
) -> ConsentOut:
    with unit_of_work(db) as session:
        record = service.record_consent(
            session,
            actor,
            learner_id=learner_id,
            purpose=body.purpose,
            lawful_basis=body.lawful_basis,
            granted=body.granted,
            recorded_at=body.recorded_at,
            source=body.source,
        )
        return ConsentOut.model_validate(record)


def _effective(table: dict[tuple[str, str], int]) -> list[RetentionPolicyOut]:
    return [
        RetentionPolicyOut(
            jurisdiction=where,
            data_kind=kind,
            days=retention.period(table, where, kind),
            source="policy" if (where, kind) in table else "default",
        )
        for where in (retention.ANY, *Jurisdiction)
        for kind in DataKind
    ]


@router.get(
    "/retention",
    response_model=list[RetentionPolicyOut],
    responses=errors(401, 403),
    summary="Retention periods in force, per jurisdiction and kind of data",
)
def list_retention(actor: LiveAdmin, db: DatabaseDep) -> list[RetentionPolicyOut]:
    with read_only(db) as session:
        return _effective(retention.policies(session, actor.organization_id))


@router.put(
    "/retention",
    response_model=list[RetentionPolicyOut],
    responses=errors(401, 403, 422),
    summary="Set a retention period",
)
def set_retention(
    body: RetentionPolicyIn, actor: LiveAdmin, db: DatabaseDep
) -> list[RetentionPolicyOut]:
    with unit_of_work(db) as session:
        retention.set_policy(
            session,
            actor.organization_id,
            where=body.jurisdiction,
            kind=body.data_kind,
            days=body.days,
            actor=actor.name,
        )
        return _effective(retention.policies(session, actor.organization_id))


@router.post(
    "/retention/run",
    response_model=RetentionRunOut,
    responses=errors(401, 403),
    summary="Apply retention now (the worker also does, daily)",
)
def run_retention(actor: LiveAdmin, db: DatabaseDep) -> RetentionRunOut:
    with unit_of_work(db) as session:
        report = retention.run(session, actor.organization_id, now=utcnow(), actor=actor.name)
        return RetentionRunOut(
            pseudonymised=report.pseudonymised, financial_deleted=report.financial_deleted
        )


@router.get(
    "/learners/{learner_id}/phi",
    response_model=PhiOut,
    responses=errors(401, 403, 404),
    summary="A learner's protected health information (HIPAA; every read is audited)",
)
def read_phi(learner_id: uuid.UUID, actor: LiveAdmin, db: DatabaseDep, ring: Ring) -> PhiOut:
    with unit_of_work(db) as session:
        return PhiOut(fields=phi.read(session, actor, ring, learner_id))


@router.put(
    "/learners/{learner_id}/phi",
    response_model=PhiOut,
    responses=errors(401, 403, 404, 409, 422),
    summary="Set or remove PHI fields (HIPAA organizations only)",
)
def write_phi(
    learner_id: uuid.UUID, body: PhiIn, actor: LiveAdmin, db: DatabaseDep, ring: Ring
) -> PhiOut:
    with unit_of_work(db) as session:
        phi.write(session, actor, ring, learner_id, body.fields)
        return PhiOut(fields=phi.read(session, actor, ring, learner_id))
