from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Request, Response, status
from pydantic import AwareDatetime, BaseModel, Field

from laurel.auth import service
from laurel.kit.errors import Forbidden
from laurel.kit.http import Admin, DatabaseDep, KeyCache, errors, read_only, unit_of_work

router = APIRouter(prefix="/api/v1/api-keys", tags=["api keys"])


class ApiKeyCreate(BaseModel):
    scopes: list[str] = Field(min_length=1, examples=[["events:write"]])
    mode: str = Field(default="live", pattern="^(live|test)$")
    name: str = Field(default="", max_length=200)
    expires_at: AwareDatetime | None = Field(
        default=None, description="The key stops working then; omit for a key that never expires"
    )


class ApiKeyRotate(BaseModel):
    overlap_until: AwareDatetime = Field(
        description="The old key keeps working until then, so clients can switch without an "
        "outage; give the current time to end it at once"
    )


class ApiKeyCreated(BaseModel):
    id: uuid.UUID
    key: str = Field(description="Shown once: Laurel keeps only its hash")
    prefix: str
    scopes: list[str]
    mode: str
    created_at: datetime
    expires_at: datetime | None


class ApiKeyOut(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    mode: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    expires_at: datetime | None
    replaced_by_id: uuid.UUID | None


def _visible_mode(livemode: bool) -> bool | None:
    """A live key manages keys of both modes; a test key only test keys."""
    return None if livemode else False


@router.get(
    "",
    response_model=list[ApiKeyOut],
    responses=errors(401, 403),
    summary="List API keys (never the keys themselves)",
)
def list_api_keys(actor: Admin, db: DatabaseDep) -> list[ApiKeyOut]:
    with read_only(db) as session:
        keys = service.list_keys(
            session, organization_id=actor.organization_id, livemode=_visible_mode(actor.livemode)
        )
        return [
            ApiKeyOut(
                id=k.id,
                name=k.name,
                prefix=k.prefix,
                scopes=list(k.scopes),
                mode="live" if k.livemode else "test",
                created_at=k.created_at,
                last_used_at=k.last_used_at,
                revoked_at=k.revoked_at,
                expires_at=k.expires_at,
                replaced_by_id=k.replaced_by_id,
            )
            for k in keys
        ]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    responses=errors(401, 403, 422),
    summary="Create an API key (shown once)",
)
def create_api_key(body: ApiKeyCreate, actor: Admin, db: DatabaseDep) -> ApiKeyCreated:
    if not actor.livemode and body.mode == "live":
        raise Forbidden("a test-mode key can create test-mode keys only")
    with unit_of_work(db) as session:
        created = service.create_key(
            session,
            organization_id=actor.organization_id,
            scopes=body.scopes,
            livemode=body.mode == "live",
            actor=actor.name,
            name=body.name,
            expires_at=body.expires_at,
        )
        return _created(created)


def _created(created: service.CreatedKey) -> ApiKeyCreated:
    key = created.key
    return ApiKeyCreated(
        id=key.id,
        key=created.secret,
        prefix=key.prefix,
        scopes=list(key.scopes),
        mode="live" if key.livemode else "test",
        created_at=key.created_at,
        expires_at=key.expires_at,
    )


@router.post(
    "/{key_id}/rotate",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    responses=errors(401, 403, 404, 409, 422),
    summary="Replace a key: the new one is shown once, the old one works until overlap_until",
)
def rotate_api_key(
    key_id: uuid.UUID, body: ApiKeyRotate, actor: Admin, db: DatabaseDep, request: Request
) -> ApiKeyCreated:
    with unit_of_work(db) as session:
        created = service.rotate(
            session,
            organization_id=actor.organization_id,
            key_id=key_id,
            actor=actor.name,
            overlap_until=body.overlap_until,
            livemode=_visible_mode(actor.livemode),
        )
        out = _created(created)
    cache: KeyCache = request.app.state.key_cache
    cache.clear()
    return out


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(401, 403, 404),
    summary="Revoke an API key",
)
def revoke_api_key(key_id: uuid.UUID, actor: Admin, db: DatabaseDep, request: Request) -> Response:
    with unit_of_work(db) as session:
        service.revoke(
            session,
            organization_id=actor.organization_id,
            key_id=key_id,
            actor=actor.name,
            livemode=_visible_mode(actor.livemode),
        )
    # This process forgets the key at once; others within the cache's few seconds.
    cache: KeyCache = request.app.state.key_cache
    cache.clear()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
