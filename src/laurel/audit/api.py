from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from laurel.audit import service
from laurel.kit.http import DatabaseDep, LiveAdmin, errors, read_only

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


class AuditEntryOut(BaseModel):
    seq: int
    actor: str
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any]
    created_at: datetime
    prev_hash: str
    hash: str


class VerifyOut(BaseModel):
    ok: bool
    entries: int
    broken_seq: int | None
    reason: str | None


@router.get(
    "",
    response_model=list[AuditEntryOut],
    responses=errors(401, 403),
    summary="Audit entries, newest first",
)
def list_audit(
    actor: LiveAdmin,
    db: DatabaseDep,
    target_type: str | None = None,
    target_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEntryOut]:
    with read_only(db) as session:
        rows = service.list_entries(
            session,
            actor.organization_id,
            target_type=target_type,
            target_id=target_id,
            limit=limit,
        )
        return [AuditEntryOut.model_validate(r, from_attributes=True) for r in rows]


@router.post(
    "/verify",
    response_model=VerifyOut,
    responses=errors(401, 403),
    summary="Recompute the organization's hash chain",
)
def verify_audit(actor: LiveAdmin, db: DatabaseDep) -> VerifyOut:
    with read_only(db) as session:
        result = service.verify_chain(session, actor.organization_id)
        return VerifyOut(
            ok=result.ok, entries=result.entries, broken_seq=result.broken_seq, reason=result.reason
        )
