"""The documented shape of the lift report (the other reports are documented as tables)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from laurel.kit.schemas import MoneyOut


class LiftGroup(BaseModel):
    group: Literal["incentivised", "control", "pre_period"]
    enrolments: int
    completions: int
    completion_rate: float | None
    median_days_to_complete: float | None = Field(description="Whole days, as the rates count")


class LiftReport(BaseModel):
    program_id: uuid.UUID
    comparison: Literal["holdout", "pre_period"]
    holdout_bps: int
    since: datetime
    until: datetime = Field(description="The end of the comparison: when it was computed")
    groups: list[LiftGroup]
    lift: float
    lift_ci95: list[float] = Field(min_length=2, max_length=2)
    relative_lift: float | None
    incremental_completions: float
    spend: list[MoneyOut]
    cost_per_incremental_completion: dict[str, MoneyOut] | None
    note: str | None
    computed_at: datetime = Field(
        description="When these numbers were computed (the as-of time to show beside them)"
    )
    snapshot: bool = Field(
        description="true: read from the stored report (refreshed in the background, at most "
        "`LAUREL_REPORT_REFRESH_SECONDS` old); false: computed for this request"
    )
