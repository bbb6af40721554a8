"""The dashboard's router and its static files (vendored htmx and Chart.js; no build step)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from laurel.dashboard import (
    api_keys,
    compliance,
    finance,
    overview,
    people,
    programs,
    rewards,
    rules,
    users,
)
from laurel.dashboard.render import need_session

STATIC = Path(__file__).parent / "static"

router = APIRouter(include_in_schema=False, dependencies=[Depends(need_session)])
for part in (overview, rewards, finance, compliance, people, programs, rules, users, api_keys):
    router.include_router(part.router)


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/dashboard/static", StaticFiles(directory=STATIC), name="dashboard-static")
