"""The audit trail: append-only, hash-chained per organization."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, BaseModel, Field

from laurel.audit import search, service, signing
from laurel.config import Settings
from laurel.db import Database
from laurel.kit.actor import Actor
from laurel.kit.errors import Conflict
from laurel.kit.http import DatabaseDep, LiveAdmin, errors, read_only, unit_of_work

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


class SignedHeadOut(BaseModel):
    """A chain head signed with the deployment's ed25519 key (docs/audit.md)."""

    format: str = Field(examples=[signing.FORMAT])
    organization_id: str
    organization: str
    seq: int
    hash: str
    signed_at: str
    key_id: str
    signature: str


class VerifyHeadIn(BaseModel):
    head: dict[str, Any] = Field(description="A signed head as exported, unchanged")
    public_key: str | None = Field(
        default=None,
        description="PEM or base64 ed25519 public key to trust; default: this deployment's",
    )


class VerifyHeadOut(BaseModel):
    ok: bool
    head_seq: int
    entries: int
    reason: str | None


class SigningKeyMissing(Conflict):
    code = "audit_signing_key_missing"


Actor_ = Annotated[str | None, Query(alias="actor", description="Exact actor, e.g. `worker`")]
Action = Annotated[
    str | None, Query(description="Exact action, or a prefix ending in `*` (`rewards:*`)")
]
Since = Annotated[AwareDatetime | None, Query(description="Inclusive")]
Until = Annotated[AwareDatetime | None, Query(description="Exclusive")]


def _filter(
    actor: str | None,
    action: str | None,
    target_type: str | None,
    target_id: str | None,
    since: datetime | None,
    until: datetime | None,
) -> search.AuditFilter:
    return search.AuditFilter(
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        since=since,
        until=until,
    )


@router.get(
    "",
    response_model=list[AuditEntryOut],
    responses=errors(401, 403, 422),
    summary="Search audit entries, newest first",
)
def list_audit(
    caller: LiveAdmin,
    db: DatabaseDep,
    actor: Actor_ = None,
    action: Action = None,
    target_type: str | None = None,
    target_id: str | None = None,
    since: Since = None,
    until: Until = None,
    before_seq: Annotated[
        int | None, Query(ge=1, description="Next page: the last `seq` of the previous one")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEntryOut]:
    where = _filter(actor, action, target_type, target_id, since, until)
    with read_only(db) as session:
        rows = search.search(
            session, caller.organization_id, where, limit=limit, before_seq=before_seq
        )
        return [AuditEntryOut.model_validate(r, from_attributes=True) for r in rows]


def _streamed(
    db: Database, caller: Actor, where: search.AuditFilter, fmt: search.ExportFormat
) -> Iterator[str]:
    # Its own read transaction, opened when the body starts and closed when it ends.
    with read_only(db) as session:
        yield from search.lines(search.stream(session, caller.organization_id, where), fmt)


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/csv": {}, "application/x-ndjson": {}},
            "description": "Every matching entry, oldest first, streamed",
        },
        **errors(401, 403, 422),
    },
    summary="Export audit entries as CSV or JSON lines (audited)",
)
def export_audit(
    caller: LiveAdmin,
    db: DatabaseDep,
    format: search.ExportFormat = search.ExportFormat.jsonl,
    actor: Actor_ = None,
    action: Action = None,
    target_type: str | None = None,
    target_id: str | None = None,
    since: Since = None,
    until: Until = None,
) -> StreamingResponse:
    where = _filter(actor, action, target_type, target_id, since, until)
    with unit_of_work(db) as session:
        service.sensitive_read(
            session,
            caller,
            "audit:export",
            "organization",
            caller.organization_id,
            {"format": format.value, "filter": where.described()},
        )
    extension = "csv" if format is search.ExportFormat.csv else "jsonl"
    return StreamingResponse(
        _streamed(db, caller, where, format),
        media_type=search.MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="audit.{extension}"'},
    )


@router.post(
    "/verify",
    response_model=VerifyOut,
    responses=errors(401, 403),
    summary="Recompute the organization's hash chain",
)
def verify_audit(caller: LiveAdmin, db: DatabaseDep) -> VerifyOut:
    with read_only(db) as session:
        result = service.verify_chain(session, caller.organization_id)
        return VerifyOut(
            ok=result.ok, entries=result.entries, broken_seq=result.broken_seq, reason=result.reason
        )


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.post(
    "/head",
    response_model=SignedHeadOut,
    responses=errors(401, 403, 409),
    summary="Sign and export the chain head (keep it outside this deployment)",
)
def export_head(caller: LiveAdmin, db: DatabaseDep, request: Request) -> SignedHeadOut:
    secret = _settings(request).audit_signing_key
    if secret is None:
        raise SigningKeyMissing("LAUREL_AUDIT_SIGNING_KEY is not configured")
    key = signing.load_private_key(secret.get_secret_value())
    with unit_of_work(db) as session:
        document = signing.export_head(session, caller.organization_id, key, actor=caller.name)
    return SignedHeadOut.model_validate(document)


@router.post(
    "/head/verify",
    response_model=VerifyHeadOut,
    responses=errors(401, 403, 404, 409, 422),
    summary="Check a signed head against the chain in the database",
)
def verify_head(
    body: VerifyHeadIn, caller: LiveAdmin, db: DatabaseDep, request: Request
) -> VerifyHeadOut:
    if body.public_key is not None:
        public = signing.load_public_key(body.public_key)
    else:
        secret = _settings(request).audit_signing_key
        if secret is None:
            raise SigningKeyMissing("send public_key: LAUREL_AUDIT_SIGNING_KEY is not configured")
        public = signing.load_private_key(secret.get_secret_value()).public_key()
    head = signing.check_signature(body.head, public)
    if head.organization_id != caller.organization_id:
        raise signing.HeadInvalid("the signed head belongs to another organization")
    with read_only(db) as session:
        result = signing.check_head(head, service.entries(session, head.organization_id))
    return VerifyHeadOut(
        ok=result.ok, head_seq=result.head_seq, entries=result.entries, reason=result.reason
    )
