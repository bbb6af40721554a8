"""Finance: the approvals queue, budget status, spend by period and the exports."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from laurel.analytics import export
from laurel.approvals import service as approvals
from laurel.budgets import service as budgets
from laurel.dashboard import queries
from laurel.dashboard.render import allowed, brand_of, page
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.http import DatabaseDep, Reader, read_only

router = APIRouter()
Period = Literal["month", "quarter", "year"]
QUEUE_LIMIT = 200


def _spend_rows(db: DatabaseDep, actor: Actor, period: str) -> list[dict[str, object]]:
    with read_only(db) as session:
        trend = queries.series(
            session, actor, period=period, since=utcnow() - timedelta(days=3 * 366)
        )
    rows: list[dict[str, object]] = []
    for i, label in enumerate(trend["labels"]):
        for currency, amounts in trend["spend"].items():
            rows.append(
                {
                    "period": label,
                    "currency": currency,
                    "spend": queries.decimal(amounts[i], currency),
                    "rewards": trend["rewards"][i],
                }
            )
    return rows


@router.get("/dashboard/finance", response_class=HTMLResponse)
def finance_page(
    request: Request,
    actor: Reader,
    db: DatabaseDep,
    period: Annotated[Period, Query()] = "month",
) -> HTMLResponse:
    with read_only(db) as session:
        queue = approvals.list_pending(session, actor, limit=QUEUE_LIMIT, cursor=None).items
        return page(
            request,
            actor,
            "finance.html",
            brand=brand_of(session, actor.organization_id),
            queue=queue,
            budgets=budgets.list_budgets(session, actor.organization_id),
            spend=_spend_rows(db, actor, period),
            period=period,
            may_decide=allowed(actor, "/dashboard/rewards/{reward_id}/approve", "POST"),
        )


@router.get("/dashboard/finance/spend")
def spend_export(
    actor: Reader,
    db: DatabaseDep,
    period: Annotated[Period, Query()] = "month",
    format: Annotated[Literal["csv", "xlsx"], Query()] = "csv",
) -> Response:
    """Spend by period as a CSV or XLSX download (the analytics export's format)."""
    return export.table(_spend_rows(db, actor, period), format, f"spend-by-{period}")
