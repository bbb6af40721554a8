"""The FastAPI application: routers of every domain, error rendering, health and metrics."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException

from laurel import __version__, migrate
from laurel.analytics import api as analytics_api
from laurel.approvals import api as approvals_api
from laurel.audit import api as audit_api
from laurel.auth import api as auth_api
from laurel.auth import oidc_api, pages, users_api
from laurel.budgets import api as budgets_api
from laurel.catalog import api as catalog_api
from laurel.config import Settings
from laurel.courses import api as courses_api
from laurel.dashboard import routes as dashboard_routes
from laurel.db import Database
from laurel.delivery import api as delivery_api
from laurel.delivery.providers import ProviderRegistry
from laurel.enrolments import api as enrolments_api
from laurel.events import api as events_api
from laurel.events.connectors import api as connectors_api
from laurel.events.connectors.caliper import api as caliper_api
from laurel.events.connectors.xapi import api as xapi_api
from laurel.events.connectors.xapi import read as xapi_read
from laurel.events.connectors.xapi import service as xapi_service
from laurel.events.connectors.xapi.cors import XapiCors
from laurel.events.grouped import GroupIntake
from laurel.fcpa import api as fcpa_api
from laurel.fx import api as fx_api
from laurel.imports import api as imports_api
from laurel.imports.runner import ImportRunner
from laurel.kit.crypto import ring_from_settings
from laurel.kit.errors import AppError
from laurel.kit.group_commit import GroupCommit
from laurel.kit.http import KeyCache
from laurel.kit.logs import quiet_data_loggers
from laurel.kit.validation import describe_errors
from laurel.learners import api as learners_api
from laurel.links import api as links_api
from laurel.metrics import EVENTS_REJECTED, REGISTRY, XAPI_GROUP_SIZE, bind_database
from laurel.notifications import api as notifications_api
from laurel.points import api as points_api
from laurel.points import market_pages as points_market_pages
from laurel.points import pages as points_pages
from laurel.portal import pages as portal_pages
from laurel.privacy import api as privacy_api
from laurel.programs import api as programs_api
from laurel.rewards import api as rewards_api
from laurel.screening import api as screening_api
from laurel.screening import service as screening
from laurel.tax import api as tax_api
from laurel.tax import pages as tax_pages
from laurel.webhooks import api as webhooks_api
from laurel.worker import Worker, default_providers, start_in_thread, stop_thread

log = logging.getLogger("laurel")

DESCRIPTION = """
Laurel turns verified training completions into rewards within seconds, exactly once.

Authenticate with an API key: `Authorization: Bearer lrl_live_…` (or `lrl_test_…` for test
mode, which runs the whole pipeline on test records against the sandbox provider). Scopes:
`events:write` to send completions, `read` for every GET, `admin` for everything.

Amounts are `{"amount": "25.00", "currency": "USD"}`: a decimal string and an ISO 4217 code.
Errors are `{"error": code, "detail": ...}`; validation errors list each bad field.
"""


def _lifespan(
    db: Database, worker: Worker, import_runner: ImportRunner, *, run_worker: bool
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start the background threads with the app and stop them before it is gone."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        running = start_in_thread(worker) if run_worker else None
        warming = threading.Thread(target=screening.warm, args=(db,), daemon=True)
        warming.start()
        import_runner.start()
        try:
            yield
        finally:
            import_runner.stop()
            # Joined so that no connection is still out when the database is disposed
            # after shutdown: one returned to a disposed pool is never closed.
            warming.join(timeout=30)
            if running is not None:
                stop_thread(*running, worker)

    return lifespan


def create_app(
    settings: Settings,
    database: Database | None = None,
    *,
    run_worker: bool = False,
    providers: ProviderRegistry | None = None,
) -> FastAPI:
    db = database or Database(settings.database_url)
    registry = providers or default_providers(db, settings)
    worker = Worker(db, settings, registry)
    worker.attach()
    import_runner = ImportRunner(db)

    app = FastAPI(
        title="Laurel",
        version=__version__,
        description=DESCRIPTION,
        lifespan=_lifespan(db, worker, import_runner, run_worker=run_worker),
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.database = db
    app.state.worker = worker
    app.state.import_runner = import_runner
    app.state.key_cache = KeyCache()
    app.state.key_ring = ring_from_settings(settings)
    # Services find the ring on their session: the same one the API routes use.
    db.key_ring = app.state.key_ring
    quiet_data_loggers()
    app.state.intake = GroupIntake(db)
    app.state.xapi_intake = GroupCommit(db, xapi_service.store_requests, sizes=XAPI_GROUP_SIZE)
    bind_database(db)

    # Routes are matched in this order, one router after the other (about 10 µs a router on
    # the benchmark host): the intake endpoints LMSs call for every completion come first.
    for router in (
        events_api.router,
        xapi_api.router,
        xapi_read.router,
        caliper_api.router,
        connectors_api.router,
        rewards_api.router,
        programs_api.router,
        learners_api.router,
        courses_api.router,
        auth_api.router,
        audit_api.router,
        screening_api.router,
        imports_api.router,
        delivery_api.router,
        catalog_api.router,
        links_api.router,
        links_api.pages,
        notifications_api.router,
        webhooks_api.router,
        fx_api.router,
        tax_api.router,
        tax_pages.router,
        enrolments_api.router,
        analytics_api.router,
        approvals_api.router,
        fcpa_api.router,
        budgets_api.router,
        users_api.router,
        oidc_api.router,
        pages.router,
        privacy_api.router,
        points_api.router,
        points_pages.router,
        points_market_pages.router,
        portal_pages.router,
    ):
        app.include_router(router)
    dashboard_routes.install(app)
    app.add_middleware(XapiCors, origins=settings.xapi_cors_origins)

    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        # Refused events, not refused callers: auth failures are for access logs, not here.
        if request.url.path.startswith("/api/v1/completions") and exc.status not in {401, 403}:
            EVENTS_REJECTED.labels(exc.code).inc()
        return JSONResponse({"error": exc.code, "detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            {"error": code, "detail": exc.detail},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        if request.url.path.startswith("/api/v1/completions"):
            EVENTS_REJECTED.labels("validation_error").inc()
        detail = describe_errors(exc.errors(), strip=("body",))
        return JSONResponse({"error": "validation_error", "detail": detail}, status_code=422)

    @app.get("/healthz", tags=["operations"], summary="The process is up")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="The database answers and is migrated",
        responses={503: {"description": "Not ready"}},
    )
    def readyz() -> JSONResponse:
        try:
            with db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            revision = migrate.current_revision(db)
        except Exception as exc:  # any failure to reach the database means not ready
            return JSONResponse({"status": "unavailable", "detail": str(exc)}, status_code=503)
        if migrate.is_behind(revision):
            head = migrate.head_revision()
            return JSONResponse(
                {"status": "migrations_pending", "current": revision, "head": head}, status_code=503
            )
        return JSONResponse({"status": "ready", "revision": revision})

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
    )
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><html lang=en><meta charset=utf-8><title>Laurel</title>"
            "<body style='font-family:system-ui;max-width:40rem;margin:3rem auto'>"
            "<h1>Laurel</h1><p>Verified training completions become rewards, exactly once.</p>"
            "<ul><li><a href='/docs'>API reference (OpenAPI)</a></li>"
            "<li><a href='/readyz'>Readiness</a></li><li><a href='/metrics'>Metrics</a></li>"
            "</ul></body></html>"
        )

    return app
