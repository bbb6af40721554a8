"""HTTP for exchange rates: import the ECB file, read the rates of a day, convert, set the fee."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request

from laurel.fx import ecb, service
from laurel.fx.schemas import ConversionOut, FeeIn, FeeOut, ImportOut, RateOut
from laurel.kit.clock import utcnow
from laurel.kit.errors import field_error
from laurel.kit.http import Admin, DatabaseDep, LiveAdmin, Reader, errors, read_only, unit_of_work
from laurel.kit.money import Money
from laurel.kit.schemas import MoneyOut

router = APIRouter(prefix="/api/v1/fx", tags=["fx"])

MAX_UPLOAD_BYTES = 32 * 1024 * 1024
"""The ECB's full history since 1999 is about 2 MB as CSV; anything far larger is a mistake."""


@router.post(
    "/rates",
    response_model=ImportOut,
    responses=errors(401, 403, 422),
    summary="Import reference rates (ECB CSV, XML or ZIP as published; live admin key)",
    description="Send the file as the request body: `eurofxref.csv`, `eurofxref-hist.csv`, "
    "their ZIPs, or `eurofxref-daily.xml`. Rates already stored are left as they are, so a "
    "file can be sent again safely. Rates are shared by every organization.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/xml": {"schema": {"type": "string"}},
                "application/zip": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def import_rates(
    request: Request,
    actor: LiveAdmin,
    db: DatabaseDep,
    source: Annotated[str, Query(pattern=r"^[a-z0-9_-]{1,32}$")] = ecb.SOURCE,
) -> ImportOut:
    body = await request.body()
    if not body:
        raise field_error("body", "send the rates file as the request body")
    if len(body) > MAX_UPLOAD_BYTES:
        raise field_error("body", f"the file is larger than {MAX_UPLOAD_BYTES // 2**20} MB")
    parsed = ecb.parse(body)
    with unit_of_work(db) as session:
        stored = service.store(session, parsed, source=source, actor=actor.name)
    return ImportOut(
        days=stored.days,
        inserted=stored.inserted,
        unchanged=stored.unchanged,
        first_day=stored.first_day,
        last_day=stored.last_day,
        skipped_currencies=stored.skipped_currencies,
        problems=stored.problems,
    )


@router.get(
    "/rates",
    response_model=list[RateOut],
    responses=errors(401, 403, 422),
    summary="The newest rate of each currency on a day (default today)",
)
def list_rates(
    actor: Reader,
    db: DatabaseDep,
    on: Annotated[date | None, Query(description="Day, YYYY-MM-DD")] = None,
) -> list[RateOut]:
    with read_only(db) as session:
        return [RateOut.of(r) for r in service.rates_on(session, on or utcnow().date())]


@router.get(
    "/convert",
    response_model=ConversionOut,
    responses=errors(401, 403, 422),
    summary="Convert an amount at a day's rate, with this organization's FX fee",
)
def convert(
    actor: Reader,
    db: DatabaseDep,
    amount: Annotated[str, Query(examples=["25.00"])],
    currency: Annotated[str, Query(min_length=3, max_length=3, examples=["USD"])],
    to: Annotated[str, Query(min_length=3, max_length=3, examples=["EUR"])],
    on: Annotated[date | None, Query(description="Day, YYYY-MM-DD (default today)")] = None,
) -> ConversionOut:
    try:
        money = Money.parse(amount, currency.upper())
    except ValueError as exc:
        raise field_error("amount", str(exc)) from None
    with read_only(db) as session:
        done = service.convert(
            session, actor.organization_id, money, to.upper(), on or utcnow().date()
        )
    return ConversionOut(
        original=MoneyOut.of(done.original.minor, done.original.currency),
        converted=MoneyOut.of(done.converted.minor, done.converted.currency),
        fee=MoneyOut.of(done.fee.minor, done.fee.currency),
        rate=str(done.rate),
        rate_date=done.rate_date,
        source=done.source,
    )


@router.get("/fee", response_model=FeeOut, responses=errors(401, 403), summary="The FX fee")
def get_fee(actor: Reader, db: DatabaseDep) -> FeeOut:
    with read_only(db) as session:
        return FeeOut(fee_bps=service.fee_bps(session, actor.organization_id))


@router.put(
    "/fee",
    response_model=FeeOut,
    responses=errors(401, 403, 422),
    summary="Set the FX fee (basis points of a converted reward)",
)
def set_fee(body: FeeIn, actor: Admin, db: DatabaseDep) -> FeeOut:
    with unit_of_work(db) as session:
        return FeeOut(
            fee_bps=service.set_fee(session, actor.organization_id, body.fee_bps, actor=actor.name)
        )
