"""HTTP for the reports: JSON by default, ``?format=csv`` or ``xlsx`` for a download.

A department manager's reports (and their downloads) count only the learners of their
departments, with those learners' enrolments, completions and rewards (``learners.visible_ids``,
as the rewards and learners routes narrow them); everyone else reads the whole organization.
Each mode reads its own data: live keys and signed-in users never see test-mode rows.
The organization-wide lift is answered from a stored snapshot while fresh
(``analytics.lift_snapshots``), with its ``computed_at``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from laurel.analytics import export, lift_snapshots, reports
from laurel.analytics.schemas import LiftReport
from laurel.config import Settings
from laurel.kit.clock import utcnow
from laurel.kit.http import DatabaseDep, Reader, errors, read_only, unit_of_work
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
    responses={
        **errors(401, 403, 404),
        200: {**DOWNLOADS[200], "model": LiftReport},
    },
    summary="Incentivised vs. control (or pre-program) completion, lift with a 95 % interval, "
    "cost per incremental completion",
    description="The whole organization's lift is served from a stored report refreshed in the "
    "background, at most `LAUREL_LIFT_REFRESH_SECONDS` (default 300) old and never older than "
    "the program's last change; `computed_at` says when it was computed and `snapshot` whether "
    "it was stored. `fresh=true` computes it now. A department manager's lift counts only "
    "their learners and is computed on each request. Downloads carry `computed_at` on every "
    "row.",
)
def program_lift(
    request: Request,
    program_id: uuid.UUID,
    actor: Reader,
    db: DatabaseDep,
    format: Format = "json",
    fresh: Annotated[
        bool, Query(description="Compute now instead of reading the stored report")
    ] = False,
) -> Response:
    settings: Settings = request.app.state.settings
    now = utcnow()
    scope = learners.visible_ids(actor)
    with read_only(db) as session:
        if scope is None:
            found, stored = lift_snapshots.current(
                session,
                actor.organization_id,
                actor.livemode,
                program_id,
                now=now,
                max_age_seconds=settings.lift_refresh_seconds,
                fresh=fresh,
            )
        else:
            # Never the organization's snapshot: only this manager's learners count.
            result = reports.lift(
                session,
                actor.organization_id,
                actor.livemode,
                program_id,
                as_of=now,
                learners_in=scope,
            )
            found, stored = lift_snapshots.Snapshot(result, now, 0), False
    if scope is None and not stored:
        # Computed outside the write transaction: on SQLite the count must not hold the
        # write lock for its whole duration.
        with unit_of_work(db) as session:
            lift_snapshots.store(
                session, actor.organization_id, actor.livemode, program_id, found, read=True
            )
    elif scope is None and lift_snapshots.needs_mark(found, now=now):
        with unit_of_work(db) as session:
            lift_snapshots.mark_read(
                session, actor.organization_id, actor.livemode, program_id, now=now
            )
    answer = lift_snapshots.with_as_of(found, stored=stored)
    if format == "json":
        return JSONResponse(answer)
    rows = [
        {
            **group,
            "comparison": answer["comparison"],
            "lift": answer["lift"],
            "lift_ci95_low": answer["lift_ci95"][0],
            "lift_ci95_high": answer["lift_ci95"][1],
            "computed_at": answer["computed_at"],
        }
        for group in answer["groups"]
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
