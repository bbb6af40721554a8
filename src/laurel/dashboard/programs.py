"""Programs: the list, create and edit forms (versioned as the API does it), provider routing,
budgets with their burn-down, and the live preview (a dry run of the real pipeline).

The pages translate forms into the API's bodies and call the programs service; every rule
(currency, providers, past effective times, templates) is the service's. A refusal is shown
beside the field it is about, with what was typed kept.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from laurel.budgets import burndown
from laurel.budgets import service as budgets
from laurel.courses.models import CourseType
from laurel.dashboard import forms, program_forms
from laurel.dashboard import preview as preview_
from laurel.dashboard.render import allowed, brand_of, fragment, page
from laurel.delivery import routing
from laurel.events.models import Outcome
from laurel.kit import currency as currencies
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import AppError
from laurel.kit.http import DatabaseDep, LiveAdmin, Reader, read_only, unit_of_work
from laurel.kit.money import Money
from laurel.learners.models import Classification
from laurel.organizations import service as organizations
from laurel.programs import schemas, service
from laurel.programs.models import DedupePeriod, DeliveryModel, RewardKind

router = APIRouter()
PREVIEW_CHOICES = 500


def providers_of(request: Request) -> list[str]:
    names: list[str] = request.app.state.worker.providers.names()
    return names


def _choices(request: Request) -> dict[str, Any]:
    """What the forms offer to choose from."""
    return {
        "templates": service.list_templates(),
        "dedupe_periods": list(DedupePeriod),
        "deliveries": list(DeliveryModel),
        "kinds": list(RewardKind),
        "classifications": list(Classification),
        "course_types": list(CourseType),
        "outcomes": [Outcome.completed, Outcome.passed],
        "providers": providers_of(request),
        "factors": program_forms.FACTORS,
    }


# ---------------------------------------------------------------- the list and a new program


@router.get("/dashboard/programs", response_class=HTMLResponse)
def programs_page(request: Request, actor: Reader, db: DatabaseDep) -> HTMLResponse:
    with read_only(db) as session:
        return page(
            request,
            actor,
            "programs.html",
            brand=brand_of(session, actor.organization_id),
            programs=service.list_programs(session, actor),
            may_create=allowed(actor, "/dashboard/programs", "POST"),
        )


def _new_form(
    request: Request,
    actor: Actor,
    db: DatabaseDep,
    values: forms.Values,
    errors: forms.Errors,
    status_code: int = 200,
) -> HTMLResponse:
    with read_only(db) as session:
        return page(
            request,
            actor,
            "program_new.html",
            brand=brand_of(session, actor.organization_id),
            status_code=status_code,
            values=values,
            errors=errors,
            error=errors.get(""),
            **_choices(request),
        )


@router.get("/dashboard/programs/new", response_class=HTMLResponse)
def new_program_page(request: Request, actor: LiveAdmin, db: DatabaseDep) -> HTMLResponse:
    with read_only(db) as session:
        code = organizations.get(session, actor.organization_id).default_currency
    values: forms.Values = {"currency": code, "active": "on", "holdout_bps": ""}
    return _new_form(request, actor, db, values, {})


@router.post("/dashboard/programs", response_class=HTMLResponse)
async def create_program(request: Request, actor: LiveAdmin, db: DatabaseDep) -> Response:
    values = forms.values_of(await request.form(), program_forms.PROGRAM_MULTI)
    code = str(values.get("currency") or "").upper()
    values["currency"] = code
    try:
        data = schemas.ProgramCreate.model_validate(
            program_forms.program_body(values, creating=True, currency=code)
        )
    except ValidationError as exc:
        return _new_form(request, actor, db, values, forms.from_validation(exc), 422)
    try:
        with unit_of_work(db) as session:
            view = service.create_program(session, actor, data, code, providers_of(request))
            program_id = view.program.id
    except AppError as exc:
        found = forms.from_app_error(exc, conflict_field="key")
        return _new_form(request, actor, db, values, found, exc.status)
    return RedirectResponse(f"/dashboard/programs/{program_id}", status.HTTP_303_SEE_OTHER)


# ---------------------------------------------------------------- the preview (a dry run)


@router.get("/dashboard/programs/preview", response_class=HTMLResponse)
def program_preview(
    actor: Reader,
    db: DatabaseDep,
    program: Annotated[uuid.UUID, Query()],
    learner: Annotated[str, Query(max_length=320)] = "",
    course: Annotated[str, Query(max_length=200)] = "",
    outcome: Annotated[Outcome, Query()] = Outcome.passed,
    score: Annotated[str, Query(max_length=20, description="0-1; empty: none")] = "",
) -> HTMLResponse:
    """The fragment the preview form loads as its fields change. The dry run rehearses the
    gates in a savepoint of a writing transaction that it rolls back: nothing is kept."""
    if not learner.strip() or not course.strip():
        return fragment("preview.html", found=None, error=None)
    # No score typed: a perfect one, so a rule's minimum score does not hide what it pays.
    try:
        mark = float(score) if score.strip() else 1.0
    except ValueError:
        mark = -1.0
    if not 0 <= mark <= 1:
        return fragment("preview.html", found=None, error="score: give a number from 0 to 1")
    with unit_of_work(db) as session:
        found = preview_.preview(
            session, actor, program, learner.strip(), course.strip(), outcome, mark
        )
        if isinstance(found, str):
            return fragment("preview.html", found=None, error=found)
        return fragment("preview.html", found=found, error=None)


# ---------------------------------------------------------------- one program


def _program_page(
    request: Request,
    actor: Actor,
    db: DatabaseDep,
    program_id: uuid.UUID,
    *,
    values: forms.Values | None = None,
    errors: forms.Errors | None = None,
    route_values: forms.Values | None = None,
    route_errors: forms.Errors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    with read_only(db) as session:
        view = service.get(session, actor, program_id)
        versions = service.list_versions(session, actor, program_id)
        routes = routing.get_routes(session, actor, program_id)
        own = budgets.list_budgets(session, actor.organization_id, program_id=program_id)
        shared = [
            b for b in budgets.list_budgets(session, actor.organization_id) if b.program_id is None
        ]
        charts = []
        for budget in own:
            assert budget.id is not None
            line = burndown.burn_down(session, actor.organization_id, budget.id)
            charts.append(
                {
                    "budget": budget,
                    "data": json.dumps(
                        {
                            "labels": [d.isoformat() for d in line.days],
                            "reserved": [_major(m, budget.limit.currency) for m in line.reserved],
                            "spent": [_major(m, budget.limit.currency) for m in line.spent],
                            "limit": _major(line.limit, budget.limit.currency),
                            "currency": budget.limit.currency,
                        }
                    ),
                }
            )
        learners_, courses_ = preview_.choices(session, actor, PREVIEW_CHOICES)
        return page(
            request,
            actor,
            "program.html",
            brand=brand_of(session, actor.organization_id),
            status_code=status_code,
            view=view,
            versions=list(reversed(versions)),
            rules=view.rules,
            now=utcnow(),
            values=values or program_forms.program_values(view.version, _limit(view)),
            errors=errors or {},
            error=(errors or {}).get("") or (route_errors or {}).get(""),
            routes=routes,
            route_values=route_values or {f"routes.{k}": ", ".join(v) for k, v in routes.items()},
            route_errors=route_errors or {},
            charts=charts,
            shared_budgets=shared,
            learners=learners_,
            courses=courses_,
            may_edit=allowed(actor, "/dashboard/programs/{program_id}", "POST"),
            **_choices(request),
        )


def _major(minor: int, code: str) -> float:
    # For the chart's axis only: the tables show exact amounts.
    return float(minor / 10 ** int(currencies.exponent(code)))


def _limit(view: service.ProgramView) -> Money | None:
    return view.budget.limit if view.budget else None


@router.get("/dashboard/programs/{program_id}", response_class=HTMLResponse)
def program_page(
    request: Request, program_id: uuid.UUID, actor: Reader, db: DatabaseDep
) -> HTMLResponse:
    return _program_page(request, actor, db, program_id)


@router.post("/dashboard/programs/{program_id}", response_class=HTMLResponse)
async def update_program(
    request: Request, program_id: uuid.UUID, actor: LiveAdmin, db: DatabaseDep
) -> Response:
    values = forms.values_of(await request.form(), program_forms.PROGRAM_MULTI)
    with read_only(db) as session:
        current = service.get(session, actor, program_id)
    code = current.version.currency
    body = program_forms.program_body(values, creating=False, currency=code)
    body.pop("currency", None)
    limit = _limit(current)
    if limit is not None and body.get("budget") == money_json(limit):
        body.pop("budget")  # unchanged: no new limit, no audit entry
    try:
        data = schemas.ProgramUpdate.model_validate(body)
    except ValidationError as exc:
        errors = forms.from_validation(exc)
        return _program_page(
            request, actor, db, program_id, values=values, errors=errors, status_code=422
        )
    try:
        with unit_of_work(db) as session:
            service.update_program(session, actor, program_id, data, providers_of(request))
    except AppError as exc:
        if exc.status == status.HTTP_404_NOT_FOUND:
            raise
        errors = forms.from_app_error(exc)
        return _program_page(
            request, actor, db, program_id, values=values, errors=errors, status_code=exc.status
        )
    return RedirectResponse(f"/dashboard/programs/{program_id}", status.HTTP_303_SEE_OTHER)


def money_json(value: Money) -> dict[str, str]:
    return {"amount": value.format_amount(), "currency": value.currency}


@router.post("/dashboard/programs/{program_id}/routes", response_class=HTMLResponse)
async def set_routes(
    request: Request, program_id: uuid.UUID, actor: LiveAdmin, db: DatabaseDep
) -> Response:
    """Provider routing per reward kind (failover in order); an empty field: the program's
    provider. Applies at once, as through the API (routes are not versioned)."""
    values = forms.values_of(await request.form())
    routes = {
        kind.value: forms.items(values.get(f"routes.{kind.value}"))
        for kind in RewardKind
        if forms.items(values.get(f"routes.{kind.value}"))
    }
    try:
        with unit_of_work(db) as session:
            routing.set_routes(session, actor, program_id, routes, providers_of(request))
    except AppError as exc:
        if exc.status == status.HTTP_404_NOT_FOUND:
            raise
        return _program_page(
            request,
            actor,
            db,
            program_id,
            route_values=values,
            route_errors=forms.from_app_error(exc),
            status_code=exc.status,
        )
    return RedirectResponse(f"/dashboard/programs/{program_id}", status.HTTP_303_SEE_OTHER)
