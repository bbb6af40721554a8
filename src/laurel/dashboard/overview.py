"""L&D overview: headline numbers (polled live by htmx), a chart over time, rates by dimension.

A department manager gets the same page over their departments' learners only.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from laurel.analytics import reports
from laurel.dashboard import queries
from laurel.dashboard.render import brand_of, fragment, nav_for, page
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.http import DatabaseDep, Reader, SignedIn, read_only

router = APIRouter()
Dimension = Literal["course", "course_type", "department", "classification", "country"]
HISTORY_DAYS = 366


def _numbers(db: DatabaseDep, actor: Actor) -> dict[str, Any]:
    with read_only(db) as session:
        found = reports.overview(
            session,
            actor.organization_id,
            actor.livemode,
            start=None,
            end=None,
            **reports.narrowing(actor),
        )
        trend = queries.series(
            session, actor, period="month", since=utcnow() - timedelta(days=HISTORY_DAYS)
        )
        brand = brand_of(session, actor.organization_id)
    return {"o": found, "series_json": json.dumps(trend), "at": utcnow(), "brand": brand}


@router.get("/dashboard")
def home(actor: SignedIn) -> RedirectResponse:
    """The first page the caller may see."""
    links = nav_for(actor)
    return RedirectResponse(links[0].path if links else "/sign-in", status_code=303)


@router.get("/dashboard/overview", response_class=HTMLResponse)
def overview_page(request: Request, actor: Reader, db: DatabaseDep) -> HTMLResponse:
    return page(
        request, actor, "overview.html", dimensions=reports.DIMENSIONS, **_numbers(db, actor)
    )


@router.get("/dashboard/overview/numbers", response_class=HTMLResponse)
def overview_numbers(actor: Reader, db: DatabaseDep) -> HTMLResponse:
    """The fragment htmx polls every few seconds: the numbers and the chart's data."""
    return fragment("overview_numbers.html", **_numbers(db, actor))


@router.get("/dashboard/overview/rates", response_class=HTMLResponse)
def overview_rates(
    actor: Reader, db: DatabaseDep, by: Annotated[Dimension, Query()] = "course"
) -> HTMLResponse:
    with read_only(db) as session:
        rows = reports.completion_rates(
            session,
            actor.organization_id,
            actor.livemode,
            by=by,
            period="all",
            start=None,
            end=None,
            **reports.narrowing(actor),
        )
    return fragment("rates.html", rows=rows, by=by)
