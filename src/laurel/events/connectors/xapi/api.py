"""HTTP edge of the xAPI statements endpoint, as LRS clients expect it.

Every answer, errors included, carries ``X-Experience-API-Version`` (the xAPI spec requires it),
so the handlers catch ``AppError`` themselves instead of leaving it to the app-wide handler.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from laurel.auth import permissions
from laurel.auth import service as auth
from laurel.db import Database
from laurel.events.connectors import strict_json
from laurel.events.connectors.xapi import attachments, service
from laurel.events.connectors.xapi.attachments import Part
from laurel.events.connectors.xapi.models import XapiReview
from laurel.kit.actor import Actor
from laurel.kit.errors import AppError, Unauthorized
from laurel.kit.group_commit import GroupCommit
from laurel.kit.http import (
    Cursor,
    DatabaseDep,
    KeyCache,
    Limit,
    Reader,
    errors,
    read_only,
    route_of,
)
from laurel.kit.schemas import PageOut
from laurel.metrics import EVENTS_RECEIVED, EVENTS_REJECTED

router = APIRouter(tags=["xapi"])

VERSION_HEADER = "X-Experience-API-Version"
_VERSION = re.compile(r"^(1\.0|2\.0)(\.\d+)?$")
_ANSWER_VERSION = {"1": "1.0.3", "2": "2.0.0"}
_STATEMENT_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"type": "object", "description": "one xAPI statement"},
                    {"type": "array", "items": {"type": "object"}},
                ]
            }
        },
        "multipart/mixed": {
            "schema": {
                "type": "string",
                "format": "binary",
                "description": "xAPI transmission format (Communication 1.5.2): the statement(s) "
                "as the application/json first part, then one part per attachment with "
                "X-Experience-API-Hash and Content-Transfer-Encoding: binary",
            }
        },
    },
}


class BadRequest(AppError):
    status = 400
    code = "bad_request"


class XapiReviewOut(BaseModel):
    id: uuid.UUID
    reward_id: uuid.UUID
    voided_statement_id: uuid.UUID
    voiding_statement_id: uuid.UUID
    reward_state: str
    state: str
    reason: str
    livemode: bool
    created_at: str

    @classmethod
    def of(cls, review: XapiReview) -> XapiReviewOut:
        return cls(
            id=review.id,
            reward_id=review.reward_id,
            voided_statement_id=review.voided_statement_id,
            voiding_statement_id=review.voiding_statement_id,
            reward_state=review.reward_state,
            state=review.state,
            reason=review.reason,
            livemode=review.livemode,
            created_at=review.created_at.isoformat(),
        )


def _secret(header: str | None) -> str:
    if not header:
        raise Unauthorized("send an API key as Bearer or as the Basic auth password")
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return value.strip()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("the Basic credentials are not base64 of user:password") from None
        _, colon, password = decoded.partition(":")
        if not colon or not password:
            raise Unauthorized("send the API key as the Basic auth password")
        return password
    raise Unauthorized("use Bearer or Basic authentication")


def _actor(request: Request, db: Database) -> Actor:
    secret = _secret(request.headers.get("authorization"))
    cache: KeyCache = request.app.state.key_cache
    actor = cache.get(secret)
    if actor is None:
        with db.session() as session:
            key = auth.resolve_key(session, secret)
        cache.put(secret, key.actor, key.expires_at)
        actor = key.actor
    # The permission table decides, as for every route (this handler resolves the key itself
    # because LRS clients send it as Basic auth).
    permissions.authorize(actor, permissions.rule_for(*route_of(request)) or permissions.intake())
    return actor


def _version(request: Request) -> str:
    sent = request.headers.get(VERSION_HEADER)
    if sent is None:
        raise BadRequest(f"the {VERSION_HEADER} header is required (1.0.x or 2.0.x)")
    if not _VERSION.match(sent.strip()):
        raise BadRequest(f"{VERSION_HEADER} {sent!r} is not supported: send 1.0.x or 2.0.x")
    return _ANSWER_VERSION[sent.strip()[0]]


def _parse(request: Request, body: bytes) -> tuple[Any, dict[str, Part]]:
    """The statements sent, and the attachment parts of a multipart/mixed request by hash."""
    sent = request.headers.get("content-type", "")
    content_type = sent.split(";")[0].strip().lower()
    if content_type == "multipart/mixed":
        first, parts = attachments.parse(sent, body)
        return strict_json.loads(first), parts
    if content_type != "application/json":
        raise BadRequest(
            f"send statements as application/json, or as multipart/mixed with attachments "
            f"(got {content_type or 'none'})"
        )
    return strict_json.loads(body), {}


def _error(exc: AppError, version: str) -> JSONResponse:
    headers = {VERSION_HEADER: version}
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="Laurel xAPI"'
    if exc.status not in {401, 403}:
        # Refused statements, not refused callers (as the completions endpoint counts them).
        EVENTS_REJECTED.labels(exc.code).inc()
    return JSONResponse(
        {"error": exc.code, "detail": exc.detail}, status_code=exc.status, headers=headers
    )


def _receive(
    db: Database, request: Request, body: bytes, statement_id: str | None, *, put: bool
) -> tuple[int, list[str]]:
    actor = _actor(request, db)
    version = _version(request)
    parsed, parts = _parse(request, body)
    if put:
        if statement_id is None:
            raise BadRequest("PUT needs the statementId query parameter")
        try:
            wanted = uuid.UUID(statement_id)
        except ValueError:
            raise BadRequest(f"statementId {statement_id!r} is not a UUID") from None
        if not isinstance(parsed, dict):
            raise BadRequest("PUT takes one statement (a JSON object)")
        sent = parsed.get("id")
        if sent is not None and (not isinstance(sent, str) or _uuid_or_none(sent) != wanted):
            raise BadRequest(f"the statement id {sent!r} differs from statementId")
        parsed.setdefault("id", str(wanted))
    elif statement_id is not None:
        raise BadRequest("statementId belongs to PUT; POST assigns ids or reads them from bodies")
    statements = parsed if isinstance(parsed, list) else [parsed]
    if not statements:
        raise BadRequest("send at least one statement")
    service.validate(statements, version)
    ids = service.assign_ids(statements)
    own_parts = attachments.check(statements, parts)
    if parts:
        # Rare and possibly large: stored in a transaction of its own, not the group commit.
        with db.session() as session:
            _, intakes = service.store(session, actor, statements, own_parts)
    else:
        grouped: GroupCommit[list[dict[str, Any]], service.Stored] = request.app.state.xapi_intake
        intakes = grouped.submit(actor, statements).intakes
    for intake in intakes:
        event = intake.event
        mode = "live" if event.livemode else "test"
        EVENTS_RECEIVED.labels(event.source, event.outcome, mode).inc()
    return (204 if put else 200), [str(i) for i in ids]


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


async def _handle(request: Request, db: Database, *, put: bool) -> Response:
    sent = request.headers.get(VERSION_HEADER, "1")
    version = _ANSWER_VERSION.get(sent.strip()[:1], "1.0.3")
    body = await request.body()
    statement_id = request.query_params.get("statementId")
    try:
        status, ids = await run_in_threadpool(_receive, db, request, body, statement_id, put=put)
    except AppError as exc:
        return _error(exc, version)
    if status == 204:
        return Response(status_code=204, headers={VERSION_HEADER: version})
    return JSONResponse(ids, headers={VERSION_HEADER: version})


_RESPONSES: dict[int | str, dict[str, Any]] = {
    **errors(400, 401, 403, 409),
    400: {"description": "Malformed or invalid statement(s), or a bad version header"},
}


@router.post(
    "/xapi/statements",
    summary="Store xAPI statements (one or an array)",
    openapi_extra={"requestBody": _STATEMENT_BODY},
    responses={
        200: {
            "description": "The statement ids, in the order sent (assigned when absent)",
            "content": {"application/json": {"schema": {"type": "array", "items": {}}}},
        },
        **_RESPONSES,
    },
)
async def post_statements(request: Request, db: DatabaseDep) -> Response:
    """Statements are validated as ADL's conformance rules demand; one invalid statement
    refuses the whole request (400) and none is kept. A statement id already stored with the
    same content is a replay (accepted, nothing paid twice); with other content, a 409.
    Requires the `X-Experience-API-Version` header (1.0.x or 2.0.x). Authenticate with a
    Laurel API key with the `events:write` scope, as `Authorization: Bearer <key>` or as the
    password of HTTP Basic auth (any user name). Attachments without a `fileUrl` come as
    `multipart/mixed` (statements first, then one part per attachment, matched by
    `X-Experience-API-Hash`); a signed statement's JWS must carry RS256/384/512 and the
    statement it was sent with (checked against its `x5c` certificate when present)."""
    return await _handle(request, db, put=False)


@router.put(
    "/xapi/statements",
    status_code=204,
    summary="Store one xAPI statement under the id given in statementId",
    openapi_extra={
        "requestBody": _STATEMENT_BODY,
        "parameters": [
            {
                "name": "statementId",
                "in": "query",
                "required": True,
                "schema": {"type": "string", "format": "uuid"},
            }
        ],
    },
    responses={204: {"description": "Stored (or a replay of the same statement)"}, **_RESPONSES},
)
async def put_statement(request: Request, db: DatabaseDep) -> Response:
    """The same rules and authentication as POST, for one statement whose id is the
    `statementId` parameter."""
    return await _handle(request, db, put=True)


@router.get("/xapi/about", summary="LRS information: the xAPI versions accepted")
def about(response: Response) -> dict[str, Any]:
    response.headers[VERSION_HEADER] = "1.0.3"
    return {"version": ["1.0.3", "2.0.0"], "extensions": {}}


@router.get(
    "/api/v1/xapi/reviews",
    response_model=PageOut[XapiReviewOut],
    responses=errors(401, 403),
    summary="Voided statements whose rewards had already gone out",
)
def list_reviews(
    actor: Reader, db: DatabaseDep, limit: Limit = 50, cursor: Cursor = None
) -> PageOut[XapiReviewOut]:
    """Newest first. Each review names the reward, the voided and the voiding statement."""
    with read_only(db) as session:
        page = service.list_reviews(session, actor, limit=limit, cursor=cursor)
        return PageOut[XapiReviewOut](
            data=[XapiReviewOut.of(r) for r in page.items],
            next_cursor=str(page.next_cursor) if page.next_cursor else None,
        )
