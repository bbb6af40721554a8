from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from laurel.budgets.models import Period
from laurel.budgets.service import BudgetView
from laurel.kit.schemas import MoneyIn, MoneyOut, refuse_null

Department = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class BudgetCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: MoneyIn = Field(description="What each window (period) may commit")
    program_id: uuid.UUID | None = Field(default=None, description="Omit for every program")
    department: Department | None = Field(
        default=None, description="Omit for every department (the learner's department)"
    )
    period: Period = Field(
        default=Period.total, description="total, or a calendar monthly/quarterly/yearly window"
    )
    name: str = Field(default="", max_length=200)


class BudgetUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: MoneyIn | None = Field(
        default=None, description="Raising it releases rewards held with budget_exhausted"
    )
    name: str | None = Field(default=None, max_length=200)

    _not_null = field_validator("limit", "name")(refuse_null)


class BudgetOut(BaseModel):
    id: uuid.UUID
    name: str
    program_id: uuid.UUID | None
    department: str | None
    period: Period
    window_start: date | None = Field(description="The window shown; null for a total budget")
    window_end: date | None = Field(description="Exclusive")
    limit: MoneyOut
    reserved: MoneyOut
    spent: MoneyOut
    available: MoneyOut

    @classmethod
    def of(cls, view: BudgetView) -> BudgetOut:
        assert view.id is not None
        return cls(
            id=view.id,
            name=view.name,
            program_id=view.program_id,
            department=view.department,
            period=Period(view.period),
            window_start=view.window_start,
            window_end=view.window_end,
            limit=MoneyOut(**view.limit.to_json()),
            reserved=MoneyOut(**view.reserved.to_json()),
            spent=MoneyOut(**view.spent.to_json()),
            available=MoneyOut(**view.available.to_json()),
        )
