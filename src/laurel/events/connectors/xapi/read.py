"""The read side of the statements resource for LRS clients (xAPI 1.0.3, §2.1.3 and §2.1.4).

``GET /xapi/statements?statementId=`` answers one stored statement, ``?voidedStatementId=``
one voided statement: a voided statement is never returned under ``statementId`` and a live one
never under ``voidedStatementId`` (both 404, as the spec requires). Only ``attachments`` and
``format`` may accompany either parameter. Statement queries (filters, ``more`` paging) are not
offered: Laurel is a completion intake, not a general LRS, and answers such a query with a 400
naming what it supports. Kept apart from the intake module (``api.py``) on purpose: the write
path is tuned for throughput and this module only reads.
"""

from __future__ import annotations

import copy
import json
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import object_session
from starlette.concurrency import run_in_threadpool

from laurel.db import Database
from laurel.events.connectors.xapi import attachments, service
from laurel.events.connectors.xapi.api import VERSION_HEADER, BadRequest, _actor, _version
from laurel.events.connectors.xapi.models import XapiStatement
from laurel.kit.clock import utcnow
from laurel.kit.errors import AppError, NotFound
from laurel.kit.http import DatabaseDep, errors, read_only
from laurel.learners import sealing

router = APIRouter(tags=["xapi"])

CONSISTENT_HEADER = "X-Experience-API-Consistent-Through"
_SINGLE = ("statementId", "voidedStatementId")
_ALLOWED_WITH_SINGLE = frozenset({"statementId", "voidedStatementId", "attachments", "format"})
_FORMATS = frozenset({"exact", "ids", "canonical"})
# Every statement Laurel keeps was sent by a client authenticated with an organization key:
# when the client named no authority, the LRS names itself (xAPI 1.0.3 §2.4.9).
_AUTHORITY_HOME = "urn:laurel:organization"


class StatementNotFound(NotFound):
    code = "statement_not_found"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _query(request: Request) -> tuple[uuid.UUID, bool, str, bool]:
    """(statement id, voided?, format, attachments?) or a 400 naming the parameter."""
    params = request.query_params
    named = [p for p in _SINGLE if p in params]
    if not named:
        raise BadRequest(
            "statement queries are not supported: send statementId or voidedStatementId "
            "to read one statement"
        )
    if len(named) == 2:
        raise BadRequest("send statementId or voidedStatementId, not both")
    extra = sorted(set(params) - _ALLOWED_WITH_SINGLE)
    if extra:
        raise BadRequest(
            f"{named[0]} may only be combined with attachments and format; got {', '.join(extra)}"
        )
    raw = params[named[0]]
    try:
        wanted = uuid.UUID(raw)
    except ValueError:
        raise BadRequest(f"{named[0]} {raw!r} is not a UUID") from None
    shape = params.get("format", "exact")
    if shape not in _FORMATS:
        raise BadRequest(f"format {shape!r} is not one of exact, ids, canonical")
    attachments = params.get("attachments", "false").lower()
    if attachments not in {"true", "false"}:
        raise BadRequest(f"attachments {params['attachments']!r} is not true or false")
    return wanted, named[0] == "voidedStatementId", shape, attachments == "true"


def _ids_only(thing: Any) -> Any:
    """``format=ids``: agents and groups keep only their identifier, activities only their id."""
    if not isinstance(thing, dict):
        return thing
    kind = thing.get("objectType")
    if kind in (None, "Activity") and "id" in thing and "actor" not in thing:
        return {"objectType": "Activity", "id": thing["id"]}
    if kind in ("Agent", "Group") or "mbox" in thing or "account" in thing:
        slim: dict[str, Any] = {"objectType": kind or "Agent"}
        for key in ("mbox", "mbox_sha1sum", "openid", "account"):
            if key in thing:
                slim[key] = thing[key]
        if kind == "Group" and len(slim) == 1 and isinstance(thing.get("member"), list):
            # An anonymous group is identified by its members.
            slim["member"] = [_ids_only(m) for m in thing["member"]]
        return slim
    if kind == "SubStatement":
        return _shape_ids(thing)
    return thing


def _shape_ids(statement: dict[str, Any]) -> dict[str, Any]:
    out = dict(statement)
    for key in ("actor", "object", "authority"):
        if key in out:
            out[key] = _ids_only(out[key])
    context = out.get("context")
    if isinstance(context, dict):
        context = dict(context)
        for key in ("instructor", "team"):
            if key in context:
                context[key] = _ids_only(context[key])
        activities = context.get("contextActivities")
        if isinstance(activities, dict):
            context["contextActivities"] = {
                k: [_ids_only(a) for a in v] if isinstance(v, list) else _ids_only(v)
                for k, v in activities.items()
            }
        out["context"] = context
    return out


def as_stored(row: XapiStatement, organization_id: uuid.UUID, shape: str) -> dict[str, Any]:
    """The statement with the properties the LRS sets (§2.4): stored, timestamp, authority,
    version. ``canonical`` answers the statement as sent: Laurel keeps no other language maps."""
    statement = copy.deepcopy(service.statement_of(row))
    stored = _iso(row.created_at)
    statement["stored"] = stored
    statement.setdefault("timestamp", stored)
    statement.setdefault("version", "1.0.0")
    statement.setdefault(
        "authority",
        {
            "objectType": "Agent",
            "account": {"homePage": _AUTHORITY_HOME, "name": str(organization_id)},
        },
    )
    return _shape_ids(statement) if shape == "ids" else statement


def _find(
    db: Database, request: Request
) -> tuple[dict[str, Any], datetime, list[attachments.Part] | None]:
    """The statement, when it was stored, and (``attachments=true``) its attachments' parts."""
    actor = _actor(request, db)
    _version(request)
    wanted, voided, shape, with_parts = _query(request)
    with read_only(db) as session:
        row = service.get_statement(session, actor, wanted)
        if row is None or row.voided != voided:
            # A voided statement is only read by voidedStatementId, and the reverse (§2.1.4).
            which = "voided statement" if voided else "statement"
            raise StatementNotFound(f"no {which} {wanted}")
        parts = _parts(row) if with_parts else None
        return as_stored(row, actor.organization_id, shape), row.created_at, parts


def _parts(row: XapiStatement) -> list[attachments.Part]:
    session = object_session(row)
    assert session is not None
    [kept] = sealing.open_many(session, sealing.XAPI_ATTACHMENTS, [row.attachments_sealed])
    return attachments.parts_of(kept)


def _multipart(statement: dict[str, Any], parts: list[attachments.Part]) -> tuple[bytes, str]:
    """``attachments=true``: the multipart/mixed form (§2.1.3), the statement then the content
    of each attachment it was sent with."""
    part = json.dumps(statement, ensure_ascii=False).encode()
    # A fresh boundary per answer: attachment octets are the client's and could hold any fixed
    # one (RFC 2046 §5.1.1: the boundary must occur in no part).
    boundary = f"laurel-{secrets.token_hex(16)}"
    return attachments.multipart(part, parts, boundary), f"multipart/mixed; boundary={boundary}"


@router.get(
    "/xapi/statements",
    summary="Read one stored xAPI statement (statementId or voidedStatementId)",
    openapi_extra={
        "parameters": [
            {"name": n, "in": "query", "required": False, "schema": {"type": s}}
            for n, s in (
                ("statementId", "string"),
                ("voidedStatementId", "string"),
                ("format", "string"),
                ("attachments", "boolean"),
            )
        ]
    },
    responses={
        200: {
            "description": "The statement with stored, timestamp, authority and version",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        **errors(400, 401, 403, 404),
    },
)
async def get_statement(request: Request, db: DatabaseDep) -> Response:
    """One statement of the key's organization and mode. Requires `X-Experience-API-Version`;
    every answer carries it and `X-Experience-API-Consistent-Through` (statements are readable
    as soon as their request is answered, so that is the time of the answer). Authenticate as
    for POST, with a key holding `read` or `events:write`."""
    sent = request.headers.get(VERSION_HEADER, "1")
    version = "2.0.0" if sent.strip().startswith("2") else "1.0.3"
    headers = {VERSION_HEADER: version, CONSISTENT_HEADER: _iso(utcnow())}
    try:
        statement, stored, parts = await run_in_threadpool(_find, db, request)
    except AppError as exc:
        if exc.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="Laurel xAPI"'
        return JSONResponse(
            {"error": exc.code, "detail": exc.detail}, status_code=exc.status, headers=headers
        )
    headers["Last-Modified"] = stored.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    if parts is not None:
        body, media = _multipart(statement, parts)
        return Response(body, media_type=media, headers=headers)
    return JSONResponse(statement, headers=headers)
