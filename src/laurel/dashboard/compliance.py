"""Compliance: the screening review queue (clear / confirm with a reason), audit search and
verification of the audit chain."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from laurel.audit import service as audit
from laurel.dashboard.render import allowed, brand_of, fragment, message_of, page
from laurel.kit.actor import Actor
from laurel.kit.errors import AppError
from laurel.kit.http import Admin, DatabaseDep, Reader, read_only, unit_of_work
from laurel.screening import cases
from laurel.screening.models import CaseStatus

router = APIRouter()
QUEUE_LIMIT = 200


def _page(
    request: Request,
    actor: Actor,
    db: DatabaseDep,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    with read_only(db) as session:
        _, queue = cases.list_cases(
            session, actor, limit=QUEUE_LIMIT, cursor=None, status=CaseStatus.open
        )
        entries = audit.list_entries(
            session,
            actor.organization_id,
            target_type=target_type or None,
            target_id=target_id or None,
            limit=100,
        )
        return page(
            request,
            actor,
            "compliance.html",
            brand=brand_of(session, actor.organization_id),
            status_code=status_code,
            queue=queue,
            entries=entries,
            search={"target_type": target_type or "", "target_id": target_id or ""},
            may_decide=allowed(actor, "/dashboard/compliance/cases/{case_id}/clear", "POST"),
            error=error,
        )


@router.get("/dashboard/compliance", response_class=HTMLResponse)
def compliance_page(
    request: Request,
    actor: Reader,
    db: DatabaseDep,
    target_type: Annotated[str | None, Query(max_length=64)] = None,
    target_id: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    return _page(request, actor, db, target_type=target_type, target_id=target_id)


@router.get("/dashboard/compliance/audit/verify", response_class=HTMLResponse)
def verify(actor: Reader, db: DatabaseDep) -> HTMLResponse:
    """Recompute the audit chain (a fragment the page loads on request)."""
    with read_only(db) as session:
        result = audit.verify_chain(session, actor.organization_id)
    return fragment("verify.html", result=result)


def _decide(
    request: Request, actor: Actor, db: DatabaseDep, case_id: uuid.UUID, clear: bool, reason: str
) -> Response:
    try:
        with unit_of_work(db) as session:
            if clear:
                cases.clear(session, actor, case_id, reason)
            else:
                cases.confirm(session, actor, case_id, reason)
    except AppError as exc:
        if exc.status == status.HTTP_404_NOT_FOUND:
            raise
        return _page(request, actor, db, error=message_of(exc), status_code=exc.status)
    return RedirectResponse("/dashboard/compliance", status_code=status.HTTP_303_SEE_OTHER)


Reason = Annotated[str, Form(max_length=2000)]


@router.post("/dashboard/compliance/cases/{case_id}/clear", response_class=HTMLResponse)
def clear_case(
    request: Request, case_id: uuid.UUID, actor: Admin, db: DatabaseDep, reason: Reason = ""
) -> Response:
    return _decide(request, actor, db, case_id, True, reason)


@router.post("/dashboard/compliance/cases/{case_id}/confirm", response_class=HTMLResponse)
def confirm_case(
    request: Request, case_id: uuid.UUID, actor: Admin, db: DatabaseDep, reason: Reason = ""
) -> Response:
    return _decide(request, actor, db, case_id, False, reason)
