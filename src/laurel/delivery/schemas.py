"""HTTP shapes for the delivery domain: inventory codes and stock, provider routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from laurel.delivery.inventory import csvfile
from laurel.delivery.inventory.service import StockLevel, UploadResult
from laurel.kit.schemas import MoneyIn, MoneyOut

ProviderName = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class RowErrorOut(BaseModel):
    row: int = Field(description="Line in the file; the header is row 1")
    column: str
    message: str

    @classmethod
    def of(cls, error: csvfile.RowError) -> RowErrorOut:
        return cls(row=error.row, column=error.column, message=error.message)


class StockOut(BaseModel):
    brand: str
    value: MoneyOut
    available: int = Field(description="Unexpired codes not yet handed out")
    allocated: int
    expired: int = Field(description="Codes that expired before anyone got them")
    threshold: int = Field(description="Low-stock alert below this many available codes")
    low: bool
    low_since: datetime | None

    @classmethod
    def of(cls, level: StockLevel) -> StockOut:
        return cls(
            brand=level.brand,
            value=MoneyOut(**level.value.to_json()),
            available=level.available,
            allocated=level.allocated,
            expired=level.expired,
            threshold=level.threshold,
            low=level.low,
            low_since=level.low_since,
        )


class UploadOut(BaseModel):
    upload_id: uuid.UUID
    rows: int = Field(description="Data rows read (blank lines not counted)")
    stored: int = Field(description="New codes stored")
    errors: list[RowErrorOut] = Field(description="Every row not stored, and why")
    released: int = Field(description="Rewards held out_of_stock that went on to the worker")
    stock: list[StockOut]

    @classmethod
    def of(cls, result: UploadResult, levels: list[StockLevel]) -> UploadOut:
        return cls(
            upload_id=result.upload_id,
            rows=result.rows,
            stored=result.stored,
            errors=[RowErrorOut.of(e) for e in result.errors],
            released=result.released,
            stock=[StockOut.of(level) for level in levels],
        )


class ThresholdIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    brand: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    value: MoneyIn
    threshold: int | None = Field(
        ge=0, description="Alert below this many codes; null: the deployment default"
    )


class RoutesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    routes: dict[str, list[ProviderName]] = Field(
        description="Reward kind -> providers in order of preference, e.g. "
        '{"gift_card": ["inventory", "tango"], "prepaid_card": ["tremendous"]}; '
        "a kind left out uses the program's provider",
        examples=[{"gift_card": ["inventory", "tango"], "prepaid_card": ["tremendous"]}],
    )


class RoutesOut(BaseModel):
    program_id: uuid.UUID
    routes: dict[str, list[str]]
