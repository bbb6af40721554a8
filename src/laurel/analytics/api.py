"""HTTP for the reports: JSON by default, ``?format=csv`` or ``xlsx`` for a download.

A department manager's reports (and their downloads) count only the learners of their
departments, with those learners' enrolments, completions and rewards (``learners.visible_ids``,
as the rewards and learners routes narrow them); everyone else reads the whole organization.
Each mode reads its own data: live keys and signed-in users never see test-mode rows.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from laurel.analytics import export, reports
from laurel.kit.http import DatabaseDep, Reader, errors, read_only
from laurel.learners import service as learners

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])

Format = Annotated[
    Literal["json", "csv", "xlsx"], Query(description="`csv` or `xlsx` for a download")
]
Since = Annotated[datetime | None, Query(alias="from", description="Start (inclusive), ISO 8601")]
Until = Annotated[datetime | None, Query(alias="to", description="End (exclusive), ISO 8601")]
DOWNLOADS: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            export.XLSX: {"schema": {"type": "string", "format": "binary"}},
        }
    }
}


@router.get(
    "/completion-rates",
    responses={**errors(401, 403, 422), **DOWNLOADS},
    summary="Completion rate (completions / enrolments) by course, type, department, "
    "classification or country, per period",
    description="Pairs of learner and course are grouped by when they were enrolled; a "
    "completion without an enrolment counts as enrolled when it completed. The median time to "
    "complete is counted in whole days.",
)
def completion_rates(
    actor: Reader,
    db: DatabaseDep,
    by: Annotated[
        Literal["course", "course_type", "department", "classification", "country"], Query()
    ] = "course",
    period: Annotated[Literal["all", "year", "quarter", "month", "week"], Query()] = "month",
    start: Since = None,
    end: Until = None,
    format: Format = "json",
) -> Response:
    with read_only(db) as session:
        rows = reports.completion_rates(
            session,
            actor.organization_id,
            actor.livemode,
            by=by,
            period=period,
            start=start,
            end=end,
            **reports.narrowing(actor),
        )
    if format == "json":
        return JSONResponse({"rows": rows})
    return export.table(rows, format, f"completion-rates-by-{by}")


@router.get(
    "/programs/{program_id}/lift",
    responses={**errors(401, 403, 404), **DOWNLOADS},
    summary="Incentivised vs. control (or pre-program) completion, lift with a 95 % interval, "
    "cost per incremental completion",
)
def program_lift(
    program_id: uuid.UUID,
    actor: Reader,
    db: DatabaseDep,
    format: Format = "json",
) -> Response:
    with read_only(db) as session:
        found = reports.lift(
            session,
            actor.organization_id,
            actor.livemode,
            program_id,
            learners_in=learners.visible_ids(actor),
        )
    if format == "json":
        return JSONResponse(found)
    rows = [
        {
            **group,
            "comparison": found["comparison"],
            "lift": found["lift"],
            "lift_ci95_low": found["lift_ci95"][0],
            "lift_ci95_high": found["lift_ci95"][1],
        }
        for group in found["groups"]
    ]
    return export.table(rows, format, "program-lift")


@router.get(
    "/overview",
    responses={**errors(401, 403, 422), **DOWNLOADS},
    summary="Completions, rewards by state, spend, cost per completion, event→delivery latency",
)
def overview(
    actor: Reader,
    db: DatabaseDep,
    start: Since = None,
    end: Until = None,
    format: Format = "json",
) -> Response:
    with read_only(db) as session:
        found = reports.overview(
            session,
            actor.organization_id,
            actor.livemode,
            start=start,
            end=end,
            **reports.narrowing(actor),
        )
    if format == "json":
        return JSONResponse(found)
    return export.table([found], format, "overview")
