"""API shapes for exchange rates, conversions and the FX fee."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from laurel.fx.models import FxRate
from laurel.kit.schemas import MoneyOut


class RateOut(BaseModel):
    source: str
    base: str
    quote: str
    rate: str = Field(
        description="Units of `quote` for one `base`, as published", examples=["1.0450"]
    )
    rate_date: date
    imported_at: datetime

    @classmethod
    def of(cls, row: FxRate) -> RateOut:
        return cls(
            source=row.source,
            base=row.base,
            quote=row.quote,
            rate=row.rate,
            rate_date=row.rate_date,
            imported_at=row.imported_at,
        )


class ImportOut(BaseModel):
    days: int
    inserted: int
    unchanged: int = Field(
        description="Rates already stored (a file imported twice changes nothing)"
    )
    first_day: date | None
    last_day: date | None
    skipped_currencies: list[str] = Field(
        description="Codes in the file that are not active ISO 4217 currencies (legacy codes)"
    )
    problems: list[str] = Field(description="Cells that could not be read: line, column, why")


class ConversionOut(BaseModel):
    original: MoneyOut
    converted: MoneyOut = Field(description="What the learner receives, after the fee")
    fee: MoneyOut
    rate: str = Field(description="Units of the target currency per unit of the original")
    rate_date: date | None = Field(
        description="Publication day of the rate used (null: same currency)"
    )
    source: str | None


class FeeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fee_bps: int = Field(
        ge=0, le=2000, description="Basis points of the converted amount", examples=[150]
    )


class FeeOut(BaseModel):
    fee_bps: int
