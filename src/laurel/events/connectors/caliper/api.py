"""HTTP edge of the Caliper endpoint: ``POST /caliper`` takes envelopes of events.

Answers as the Caliper endpoint rules say: 200 on success, 400 malformed, 401 without a valid
Bearer key, 415 for a body that is not ``application/json``, 422 for a ``dataVersion`` Laurel
does not read.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from laurel.db import Database
from laurel.events.connectors import strict_json
from laurel.events.connectors.caliper import service
from laurel.events.connectors.caliper.validation import DATA_VERSIONS
from laurel.kit.actor import Actor
from laurel.kit.errors import AppError
from laurel.kit.http import DatabaseDep, EventWriter, errors
from laurel.metrics import EVENTS_RECEIVED

router = APIRouter(tags=["caliper"])


class UnsupportedMediaType(AppError):
    status = 415
    code = "unsupported_media_type"


class CaliperOut(BaseModel):
    events: int = Field(description="Events in the envelope")
    entities: int = Field(description="Entity descriptions in the envelope (checked, not kept)")
    stored: int = Field(description="Events stored now (the others were already received)")
    replayed: int
    completion_event_ids: list[uuid.UUID] = Field(
        description="Laurel events created now, for events that describe results"
    )


def _receive(db: Database, actor: Actor, envelope: Any) -> CaliperOut:
    with db.session() as session:
        received = service.store(session, actor, envelope)
        out = CaliperOut(
            events=received.events,
            entities=received.entities,
            stored=received.stored,
            replayed=received.replayed,
            completion_event_ids=[i.event.id for i in received.completions],
        )
    for intake in received.completions:
        event = intake.event
        EVENTS_RECEIVED.labels(
            event.source, event.outcome, "live" if event.livemode else "test"
        ).inc()
    return out


@router.post(
    "/caliper",
    response_model=CaliperOut,
    summary="Receive a Caliper envelope",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["sensor", "sendTime", "dataVersion", "data"],
                        "properties": {
                            "sensor": {"type": "string"},
                            "sendTime": {"type": "string", "format": "date-time"},
                            "dataVersion": {"type": "string", "enum": list(DATA_VERSIONS)},
                            "data": {"type": "array", "items": {"type": "object"}},
                        },
                    }
                }
            },
        }
    },
    responses={
        **errors(400, 401, 403, 409, 422),
        415: {"description": "The body is not application/json"},
        422: {"description": "Unsupported dataVersion"},
    },
)
async def post_envelope(request: Request, actor: EventWriter, db: DatabaseDep) -> CaliperOut:
    """Authenticate with `Authorization: Bearer <key>` (scope `events:write`). One malformed
    event refuses the whole envelope (400, each problem named) and nothing is kept. Grade,
    assessment and tool-use-with-progress events become completion events (source `caliper`);
    every valid event is stored. A resent event is a replay; its id with other content, 409."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType(
            f"send Caliper envelopes as application/json (got {content_type or 'none'})"
        )
    envelope = strict_json.loads(await request.body())
    return await run_in_threadpool(_receive, db, actor, envelope)


@router.get("/caliper", summary="Caliper endpoint configuration")
def endpoint_config() -> dict[str, Any]:
    """What this endpoint accepts, in the shape of Caliper's endpoint configuration payload."""
    return {
        "caliper_supported_versions": list(DATA_VERSIONS),
        "caliper_supported_extensions": {"endpoint_name": "Laurel"},
    }
