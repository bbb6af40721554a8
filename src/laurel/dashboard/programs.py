"""Programs: the list with each program's budget burn-down, and a live preview of what a
learner finishing a course would get (worked out by the rules engine, nothing written)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from laurel.dashboard import preview as preview_
from laurel.dashboard.render import brand_of, fragment, page
from laurel.kit.http import DatabaseDep, Reader, read_only
from laurel.programs import service as programs

router = APIRouter()


@router.get("/dashboard/programs", response_class=HTMLResponse)
def programs_page(request: Request, actor: Reader, db: DatabaseDep) -> HTMLResponse:
    with read_only(db) as session:
        return page(
            request,
            actor,
            "programs.html",
            brand=brand_of(session, actor.organization_id),
            programs=programs.list_programs(session, actor),
        )


@router.get("/dashboard/programs/preview", response_class=HTMLResponse)
def program_preview(
    actor: Reader,
    db: DatabaseDep,
    program: Annotated[uuid.UUID, Query()],
    learner: Annotated[str, Query(max_length=200)] = "",
    course: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    """The fragment the preview form loads as its fields change."""
    if not learner.strip() or not course.strip():
        return fragment("preview.html", found=None, error=None)
    with read_only(db) as session:
        found = preview_.preview(session, actor, program, learner.strip(), course.strip())
    if isinstance(found, str):
        return fragment("preview.html", found=None, error=found)
    return fragment("preview.html", found=found, error=None)
