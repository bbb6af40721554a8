from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field

from laurel.auth import service
from laurel.kit.http import Admin, DatabaseDep, KeyCache, errors, unit_of_work

router = APIRouter(prefix="/api/v1/api-keys", tags=["api keys"])


class ApiKeyCreate(BaseModel):
    scopes: list[str] = Field(min_length=1, examples=[["events:write"]])
    mode: str = Field(default="live", pattern="^(live|test)$")
    name: str = Field(default="", max_length=200)


class ApiKeyCreated(BaseModel):
    id: uuid.UUID
    key: str = Field(description="Shown once: Laurel keeps only its hash")
    prefix: str
    scopes: list[str]
    mode: str
    created_at: datetime


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    responses=errors(401, 403, 422),
    summary="Create an API key (shown once)",
)
def create_api_key(body: ApiKeyCreate, actor: Admin, db: DatabaseDep) -> ApiKeyCreated:
    with unit_of_work(db) as session:
        created = service.create_key(
            session,
            organization_id=actor.organization_id,
            scopes=body.scopes,
            livemode=body.mode == "live",
            actor=actor.name,
            name=body.name,
        )
        key = created.key
        return ApiKeyCreated(
            id=key.id,
            key=created.secret,
            prefix=key.prefix,
            scopes=list(key.scopes),
            mode=body.mode,
            created_at=key.created_at,
        )


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(401, 403),
    summary="Revoke an API key",
)
def revoke_api_key(key_id: uuid.UUID, actor: Admin, db: DatabaseDep, request: Request) -> Response:
    with unit_of_work(db) as session:
        service.revoke(
            session, organization_id=actor.organization_id, key_id=key_id, actor=actor.name
        )
    cache: KeyCache = request.app.state.key_cache
    cache.clear()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
