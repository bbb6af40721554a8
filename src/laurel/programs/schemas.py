from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from laurel.courses.models import CourseType
from laurel.events.models import Outcome
from laurel.kit.schemas import MoneyIn, MoneyOut, refuse_null
from laurel.learners.models import Classification
from laurel.learners.schemas import Country
from laurel.programs.models import DedupePeriod, DeliveryModel, RewardKind

Key = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
PayableOutcome = Literal[Outcome.completed, Outcome.passed]


def _factor(low: str, high: str) -> object:
    return Field(default=None, ge=Decimal(low), le=Decimal(high), decimal_places=2)


class Eligibility(BaseModel):
    """Who a program may pay. Empty lists mean everyone."""

    model_config = ConfigDict(extra="forbid")

    classifications: list[Classification] = Field(default_factory=list)
    departments: list[Text] = Field(default_factory=list)
    countries: list[Country] = Field(default_factory=list)
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    roster_verified: bool = Field(
        default=False,
        description="Pay only learners active on the latest HR roster; hold others "
        "(`not_on_roster`) until a roster lists them as active",
    )

    @model_validator(mode="after")
    def _window(self) -> Eligibility:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


def _payable() -> list[PayableOutcome]:
    return [Outcome.completed, Outcome.passed]


class RuleConditions(BaseModel):
    """All given conditions must hold; an empty list places no condition."""

    model_config = ConfigDict(extra="forbid")

    course_ids: list[Text] = Field(default_factory=list, description="Course external ids")
    course_types: list[CourseType] = Field(default_factory=list)
    tags: list[Text] = Field(default_factory=list, description="Any of these course tags")
    outcomes: list[PayableOutcome] = Field(default_factory=_payable)
    min_score: Decimal | None = Field(default=None, ge=0, le=1)
    classifications: list[Classification] = Field(default_factory=list)
    departments: list[Text] = Field(default_factory=list)
    countries: list[Country] = Field(default_factory=list)


class FixedValue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["fixed"] = "fixed"
    amount: MoneyIn


class FourFactorValue(BaseModel):
    """base × importance × time investment × behavioural lift × learner segment, capped.

    A factor left out is taken from elsewhere: importance from the course, time investment from
    the course duration, segment from the program's factor for the learner's classification;
    behavioural lift defaults to 1.0.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["four_factor"] = "four_factor"
    base: MoneyIn
    importance: Decimal | None = _factor("1.0", "4.0")  # type: ignore[assignment]
    time_investment: Decimal | None = _factor("1.0", "5.0")  # type: ignore[assignment]
    behavioural_lift: Decimal | None = _factor("1.0", "3.0")  # type: ignore[assignment]
    segment: Decimal | None = _factor("1.0", "3.5")  # type: ignore[assignment]
    cap: MoneyIn | None = None

    @model_validator(mode="after")
    def _same_currency(self) -> FourFactorValue:
        if self.cap is not None and self.cap.currency != self.base.currency:
            raise ValueError("cap and base must be in the same currency")
        return self


RuleValue = Annotated[FixedValue | FourFactorValue, Field(discriminator="kind")]


class RuleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=200)
    priority: int = Field(default=100, ge=0, le=1_000_000, description="Lower is tried first")
    enabled: bool = True
    conditions: RuleConditions = Field(default_factory=RuleConditions)
    value: RuleValue
    effective_from: AwareDatetime | None = Field(
        default=None, description="When this version starts to apply; now or later (default now)"
    )


class RuleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    priority: int | None = Field(default=None, ge=0, le=1_000_000)
    enabled: bool | None = None
    conditions: RuleConditions | None = None
    value: RuleValue | None = None
    effective_from: AwareDatetime | None = None

    _not_null = field_validator("priority", "enabled", "conditions", "value")(refuse_null)


class RuleOut(BaseModel):
    id: uuid.UUID
    program_id: uuid.UUID
    version_id: uuid.UUID
    version: int
    effective_from: datetime
    name: str
    priority: int
    enabled: bool
    conditions: RuleConditions
    value: RuleValue


SegmentFactors = dict[Classification, Annotated[Decimal, Field(ge=1, le=Decimal("3.5"))]]


class ProgramFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text | None = None
    active: bool | None = None
    currency: Annotated[str, StringConstraints(min_length=3, max_length=3)] | None = None
    dedupe_period: DedupePeriod | None = None
    delivery: DeliveryModel | None = None
    reward_kind: RewardKind | None = None
    provider: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    approval_threshold: MoneyIn | None = Field(
        default=None, description="Rewards above this amount wait for approval"
    )
    approval_expiry_days: int | None = Field(
        default=None,
        ge=1,
        le=365,
        description="Days a request for a decision (approval threshold or FCPA) waits; "
        "undecided after that, it expires and the reward is cancelled (default 14)",
    )
    eligibility: Eligibility | None = None
    segment_factors: SegmentFactors | None = None
    holdout_bps: int | None = Field(
        default=None,
        ge=0,
        le=5000,
        description="Share of eligible learners held out as a control group and never paid, "
        "in basis points (1000 = 10 %); disclosed here so learners and auditors can see it",
    )
    effective_from: AwareDatetime | None = Field(
        default=None, description="When this version starts to apply; now or later (default now)"
    )

    _not_null = field_validator(
        "name",
        "active",
        "currency",
        "dedupe_period",
        "delivery",
        "reward_kind",
        "provider",
        "approval_expiry_days",
        "eligibility",
        "segment_factors",
        "holdout_bps",
    )(refuse_null)


class ProgramCreate(ProgramFields):
    key: Key
    template: str | None = Field(
        default=None, description="Start from a template (see /api/v1/program-templates)"
    )
    budget: MoneyIn | None = None
    rules: list[RuleCreate] | None = Field(
        default=None, description="Rules to create with the program (a template brings its own)"
    )


class ProgramUpdate(ProgramFields):
    budget: MoneyIn | None = None


class BudgetOut(BaseModel):
    limit: MoneyOut
    reserved: MoneyOut
    spent: MoneyOut
    available: MoneyOut


class ProgramOut(BaseModel):
    id: uuid.UUID
    key: str
    version_id: uuid.UUID
    version: int
    effective_from: datetime
    name: str
    template: str | None
    active: bool
    currency: str
    dedupe_period: DedupePeriod
    delivery: DeliveryModel
    reward_kind: RewardKind
    provider: str
    approval_threshold: MoneyOut | None
    approval_expiry_days: int = Field(
        description="Days an undecided approval request waits before the reward is cancelled"
    )
    eligibility: Eligibility
    segment_factors: dict[str, str]
    holdout_bps: int = Field(description="Control group share in basis points (0: no holdout)")
    budget: BudgetOut | None
    rules: list[RuleOut]
    created_at: datetime


class TemplateOut(BaseModel):
    key: str
    name: str
    description: str
    course_types: list[CourseType]
    outcomes: list[str]
    classifications: list[Classification]
    value_range: tuple[MoneyOut, MoneyOut]
    dedupe_period: DedupePeriod
    reward_kind: RewardKind
    delivery: DeliveryModel
