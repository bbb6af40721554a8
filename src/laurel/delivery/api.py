"""HTTP for delivery: inventory code uploads and stock, thresholds, provider routes."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile

from laurel.config import Settings
from laurel.delivery import routing
from laurel.delivery.inventory import service as inventory
from laurel.delivery.inventory.sealing import CodeBox
from laurel.delivery.schemas import (
    RoutesIn,
    RoutesOut,
    StockOut,
    ThresholdIn,
    UploadOut,
)
from laurel.kit.errors import field_error
from laurel.kit.http import DatabaseDep, LiveAdmin, Reader, errors, read_only, unit_of_work

router = APIRouter(prefix="/api/v1", tags=["delivery"])

MAX_UPLOAD = 20 * 1024 * 1024


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.post(
    "/inventory/codes",
    response_model=UploadOut,
    responses=errors(401, 403, 413, 422),
    summary="Upload pre-purchased gift codes (CSV: brand, value, currency, code, PIN, expiry)",
)
def upload_codes(
    request: Request,
    actor: LiveAdmin,
    db: DatabaseDep,
    file: Annotated[UploadFile, File(description="CSV with a header row")],
) -> UploadOut:
    """Stores every valid row's code encrypted; every other row is listed with its row
    number, column and reason. A code uploaded before (in any earlier file) is reported, never
    stored twice. Rewards held `out_of_stock` run their gates again at once (`released`)."""
    data = file.file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise field_error("file", f"larger than {MAX_UPLOAD} bytes; split it")
    settings = _settings(request)
    with unit_of_work(db) as session:
        result = inventory.upload(
            session,
            actor.organization_id,
            data,
            box=CodeBox(settings.secret_key),
            actor=actor.name,
            default_threshold=settings.inventory_low_stock,
        )
        levels = inventory.stock(session, actor.organization_id, settings.inventory_low_stock)
        return UploadOut.of(result, levels)


@router.get(
    "/inventory/stock",
    response_model=list[StockOut],
    responses=errors(401, 403),
    summary="Codes in stock per brand and value, with low-stock alerts",
)
def list_stock(request: Request, actor: Reader, db: DatabaseDep) -> list[StockOut]:
    with read_only(db) as session:
        levels = inventory.stock(
            session, actor.organization_id, _settings(request).inventory_low_stock
        )
        return [StockOut.of(level) for level in levels]


@router.put(
    "/inventory/thresholds",
    response_model=StockOut,
    responses=errors(401, 403, 422),
    summary="Set the low-stock threshold of one brand and value",
)
def set_threshold(
    request: Request, body: ThresholdIn, actor: LiveAdmin, db: DatabaseDep
) -> StockOut:
    with unit_of_work(db) as session:
        level = inventory.set_threshold(
            session,
            actor.organization_id,
            body.brand,
            body.value.to_money(),
            body.threshold,
            actor=actor.name,
            default_threshold=_settings(request).inventory_low_stock,
        )
        return StockOut.of(level)


@router.get(
    "/programs/{program_id}/provider-routes",
    response_model=RoutesOut,
    responses=errors(401, 403, 404),
    summary="The providers that issue a program's rewards, per reward kind",
)
def get_routes(program_id: uuid.UUID, actor: Reader, db: DatabaseDep) -> RoutesOut:
    with read_only(db) as session:
        return RoutesOut(
            program_id=program_id, routes=routing.get_routes(session, actor, program_id)
        )


@router.put(
    "/programs/{program_id}/provider-routes",
    response_model=RoutesOut,
    responses=errors(401, 403, 404, 422),
    summary="Route a program's rewards per kind to providers, with failover in order",
)
def set_routes(
    program_id: uuid.UUID, body: RoutesIn, request: Request, actor: LiveAdmin, db: DatabaseDep
) -> RoutesOut:
    """Replaces the program's routes. The worker uses the first provider; when it is down and
    says it has no order for the reward, the next one. A kind left out uses the program's
    provider."""
    configured = request.app.state.worker.providers.names()
    with unit_of_work(db) as session:
        routes = routing.set_routes(session, actor, program_id, body.routes, configured)
        return RoutesOut(program_id=program_id, routes=routes)
