"""HTTP for the reports: JSON by default, ``?format=csv`` or ``xlsx`` for a download.

A department manager's reports (and their downloads) count only the learners of their
departments, with those learners' enrolments, completions and rewards (``learners.visible_ids``,
as the rewards and learners routes narrow them); everyone else reads the whole organization.
Each mode reads its own data: live keys and signed-in users never see test-mode rows.
The lift and the completion rates the rollups cannot answer are answered from a stored snapshot
while fresh (``analytics.snapshots``: the organization's, or a department manager's own), with
their ``computed_at``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from laurel.analytics import export, reports, rollups, snapshots
from laurel.analytics.schemas import LiftReport
from laurel.config import Settings
from laurel.db import Database
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.http import DatabaseDep, Reader, errors, read_only
from laurel.learners import service as learners

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])

Format = Annotated[
    Literal["json", "csv", "xlsx"], Query(description="`csv` or `xlsx` for a download")
]
Since = Annotated[datetime | None, Query(alias="from", description="Start (inclusive), ISO 8601")]
Until = Annotated[datetime | None, Query(alias="to", description="End (exclusive), ISO 8601")]
Fresh = Annotated[bool, Query(description="Compute now instead of reading the stored report")]
DOWNLOADS: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            export.XLSX: {"schema": {"type": "string", "format": "binary"}},
        }
    }
}


def _stored(
    request: Request,
    db: Database,
    actor: Actor,
    report: str,
    params: dict[str, Any],
    now: datetime,
    fresh: bool,
) -> dict[str, Any]:
    """A stored report's answer for ``actor`` (the organization's or their departments'
    snapshot), with ``computed_at`` and ``snapshot``."""
    settings: Settings = request.app.state.settings
    target = snapshots.Target(
        actor.organization_id, actor.livemode, report, snapshots.key_of(params)
    )
    found, stored = snapshots.serve(
        db, target, now=now, max_age_seconds=settings.report_refresh_seconds, fresh=fresh
    )
    return snapshots.with_as_of(found, stored=stored)


@router.get(
    "/completion-rates",
    responses={**errors(401, 403, 422), **DOWNLOADS},
    summary="Completion rate (completions / enrolments) by course, type, department, "
    "classification or country, per period",
    description="Pairs of learner and course are grouped by when they were enrolled; a "
    "completion without an enrolment counts as enrolled when it completed. The median time to "
    "complete is counted in whole days. JSON answers carry `computed_at` and `snapshot`: rates "
    "by ISO week or over a window off month bounds are served from a stored report refreshed "
    "in the background, at most `LAUREL_REPORT_REFRESH_SECONDS` (default 300) old; the others "
    "are counted live from the rollups. `fresh=true` computes a stored report now.",
)
def completion_rates(
    request: Request,
    actor: Reader,
    db: DatabaseDep,
    by: Annotated[
        Literal["course", "course_type", "department", "classification", "country"], Query()
    ] = "course",
    period: Annotated[Literal["all", "year", "quarter", "month", "week"], Query()] = "month",
    start: Since = None,
    end: Until = None,
    format: Format = "json",
    fresh: Fresh = False,
) -> Response:
    now = utcnow()
    if actor.learner_id is None and not rollups.answers(period, start, end):
        # Not in the rollups (ISO weeks, windows off month bounds): every pair of the window
        # is counted, so the report is kept as a snapshot (the organization's, or this
        # manager's departments').
        params = snapshots.rates_params(
            by=by, period=period, start=start, end=end, departments=actor.departments
        )
        answer = _stored(request, db, actor, snapshots.COMPLETION_RATES, params, now, fresh)
    else:
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
        answer = {"rows": rows, "computed_at": now.isoformat(), "snapshot": False}
    if format == "json":
        return JSONResponse(answer)
    return export.table(answer["rows"], format, f"completion-rates-by-{by}")


@router.get(
    "/programs/{program_id}/lift",
    responses={
        **errors(401, 403, 404),
        200: {**DOWNLOADS[200], "model": LiftReport},
    },
    summary="Incentivised vs. control (or pre-program) completion, lift with a 95 % interval, "
    "cost per incremental completion",
    description="The lift is served from a stored report refreshed in the background, at most "
    "`LAUREL_REPORT_REFRESH_SECONDS` (default 300) old and never older than the program's last "
    "change; `computed_at` says when it was computed and `snapshot` whether it was stored. "
    "`fresh=true` computes it now. A department manager's lift counts only their learners and "
    "is stored apart from the organization's. Downloads carry `computed_at` on every row.",
)
def program_lift(
    request: Request,
    program_id: uuid.UUID,
    actor: Reader,
    db: DatabaseDep,
    format: Format = "json",
    fresh: Fresh = False,
) -> Response:
    now = utcnow()
    if actor.learner_id is None:
        # The organization's lift, or this department manager's: kept as a snapshot.
        params = snapshots.lift_params(program_id, actor.departments)
        answer = _stored(request, db, actor, snapshots.LIFT, params, now, fresh)
    else:
        with read_only(db) as session:
            result = reports.lift(
                session,
                actor.organization_id,
                actor.livemode,
                program_id,
                as_of=now,
                learners_in=learners.visible_ids(actor),
            )
        answer = snapshots.with_as_of(snapshots.Snapshot(result, now, 0), stored=False)
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
