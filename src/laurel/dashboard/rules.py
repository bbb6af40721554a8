"""Reward rules: add one to a program, see a rule's versions, change it from a chosen time.

The forms become ``RuleCreate`` / ``RuleUpdate`` bodies for the programs service, as the API's
``POST /programs/{id}/rules`` and ``PATCH /rules/{id}``: a change is a new version from its
effective time (default now), never reaching back.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from laurel.courses.models import CourseType
from laurel.dashboard import forms, program_forms
from laurel.dashboard.render import allowed, brand_of, page
from laurel.events.models import Outcome
from laurel.kit.actor import Actor
from laurel.kit.errors import AppError
from laurel.kit.http import DatabaseDep, LiveAdmin, Reader, read_only, unit_of_work
from laurel.learners.models import Classification
from laurel.programs import schemas, service

router = APIRouter()


def _page(
    request: Request,
    actor: Actor,
    db: DatabaseDep,
    *,
    program_id: uuid.UUID | None = None,
    rule_id: uuid.UUID | None = None,
    values: forms.Values | None = None,
    errors: forms.Errors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    with read_only(db) as session:
        history = service.rule_history(session, actor, rule_id) if rule_id else []
        current = service.get_rule(session, actor, rule_id) if rule_id else None
        owner = current.program_id if current else program_id
        assert owner is not None, "a new rule's page names its program"
        program = service.get(session, actor, owner)
        if values is None:
            values = (
                program_forms.rule_values(current) if current else program_forms.new_rule_values()
            )
        return page(
            request,
            actor,
            "rule.html",
            brand=brand_of(session, actor.organization_id),
            status_code=status_code,
            program=program,
            rule=current,
            history=list(reversed(history)),
            values=values,
            errors=errors or {},
            error=(errors or {}).get(""),
            currency=program.version.currency,
            course_types=list(CourseType),
            outcomes=[Outcome.completed, Outcome.passed],
            classifications=list(Classification),
            factors=program_forms.FACTORS,
            may_edit=allowed(actor, "/dashboard/rules/{rule_id}", "POST"),
        )


@router.get("/dashboard/programs/{program_id}/rules/new", response_class=HTMLResponse)
def new_rule_page(
    request: Request, program_id: uuid.UUID, actor: LiveAdmin, db: DatabaseDep
) -> HTMLResponse:
    return _page(request, actor, db, program_id=program_id)


def _parse(values: forms.Values, currency: str, model: type[BaseModel]) -> BaseModel | forms.Errors:
    try:
        return model.model_validate(program_forms.rule_body(values, currency))
    except ValidationError as exc:
        return forms.from_validation(exc)


def _save(
    request: Request,
    actor: Actor,
    db: DatabaseDep,
    values: forms.Values,
    data: BaseModel | forms.Errors,
    write: Callable[[Session], object],
    *,
    program_id: uuid.UUID,
    rule_id: uuid.UUID | None = None,
) -> Response:
    """Write a parsed form, or show it again with what is wrong (422, or the service's
    status); a rule or program that is not there stays a 404."""
    shown = {"program_id": None, "rule_id": rule_id} if rule_id else {"program_id": program_id}
    if isinstance(data, dict):
        return _page(request, actor, db, values=values, errors=data, status_code=422, **shown)
    try:
        with unit_of_work(db) as session:
            write(session)
    except AppError as exc:
        if exc.status == status.HTTP_404_NOT_FOUND:
            raise
        errors = forms.from_app_error(exc)
        return _page(
            request, actor, db, values=values, errors=errors, status_code=exc.status, **shown
        )
    return RedirectResponse(f"/dashboard/programs/{program_id}", status.HTTP_303_SEE_OTHER)


@router.post("/dashboard/programs/{program_id}/rules", response_class=HTMLResponse)
async def create_rule(
    request: Request, program_id: uuid.UUID, actor: LiveAdmin, db: DatabaseDep
) -> Response:
    values = forms.values_of(await request.form(), program_forms.RULE_MULTI)
    with read_only(db) as session:
        code = service.get(session, actor, program_id).version.currency
    data = _parse(values, code, schemas.RuleCreate)

    def write(session: Session) -> object:
        assert isinstance(data, schemas.RuleCreate)
        return service.create_rule(session, actor, program_id, data)

    return _save(request, actor, db, values, data, write, program_id=program_id)


@router.get("/dashboard/rules/{rule_id}", response_class=HTMLResponse)
def rule_page(request: Request, rule_id: uuid.UUID, actor: Reader, db: DatabaseDep) -> HTMLResponse:
    return _page(request, actor, db, rule_id=rule_id)


@router.post("/dashboard/rules/{rule_id}", response_class=HTMLResponse)
async def update_rule(
    request: Request, rule_id: uuid.UUID, actor: LiveAdmin, db: DatabaseDep
) -> Response:
    values = forms.values_of(await request.form(), program_forms.RULE_MULTI)
    with read_only(db) as session:
        current = service.get_rule(session, actor, rule_id)
        code = service.get(session, actor, current.program_id).version.currency
        program_id = current.program_id
    data = _parse(values, code, schemas.RuleUpdate)

    def write(session: Session) -> object:
        assert isinstance(data, schemas.RuleUpdate)
        return service.update_rule(session, actor, rule_id, data)

    return _save(request, actor, db, values, data, write, program_id=program_id, rule_id=rule_id)
