"""The seven program types of the reference table, as ready-made starting points.

Each template's value is four-factor with the low end of its range as the base and the high end
as the cap, so a plain course pays the low end and important, long or hard-to-reach training
earns more, never past the cap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from laurel.courses.models import CourseType
from laurel.events.models import Outcome
from laurel.kit.currency import POINTS
from laurel.learners.models import Classification
from laurel.programs.models import DedupePeriod, DeliveryModel, RewardKind


@dataclass(frozen=True, slots=True)
class Template:
    key: str
    name: str
    description: str
    course_types: tuple[CourseType, ...]
    outcomes: tuple[Outcome, ...]
    low: str
    high: str
    dedupe_period: DedupePeriod = DedupePeriod.once
    reward_kind: RewardKind = RewardKind.gift_card
    delivery: DeliveryModel = DeliveryModel.instant
    classifications: tuple[Classification, ...] = field(default=())
    currency: str | None = None
    """None: the organization's default currency."""
    approval_threshold: str | None = None


_DONE = (Outcome.completed, Outcome.passed)

TEMPLATES: dict[str, Template] = {
    t.key: t
    for t in (
        Template(
            key="annual_compliance",
            name="Annual compliance",
            description="Gift card for each required compliance course, once per calendar year.",
            course_types=(CourseType.compliance,),
            outcomes=_DONE,
            low="25.00",
            high="75.00",
            dedupe_period=DedupePeriod.calendar_year,
            classifications=(Classification.employee, Classification.contractor),
        ),
        Template(
            key="product_certification",
            name="Product certification",
            description="Reward for passing a product certification exam.",
            course_types=(CourseType.certification,),
            outcomes=(Outcome.passed,),
            low="75.00",
            high="150.00",
        ),
        Template(
            key="leadership",
            name="Leadership development",
            description="Reward for finishing a leadership programme; large awards are approved.",
            course_types=(CourseType.leadership,),
            outcomes=_DONE,
            low="150.00",
            high="300.00",
            classifications=(Classification.employee,),
            approval_threshold="250.00",
        ),
        Template(
            key="channel_partner_certification",
            name="Channel partner certification",
            description="Reward for partner staff who pass a partner certification.",
            course_types=(CourseType.partner_certification,),
            outcomes=(Outcome.passed,),
            low="50.00",
            high="150.00",
            classifications=(Classification.channel_partner,),
            reward_kind=RewardKind.prepaid_card,
        ),
        Template(
            key="customer_onboarding",
            name="Customer onboarding",
            description="Reward for customers who complete onboarding training.",
            course_types=(CourseType.onboarding,),
            outcomes=_DONE,
            low="25.00",
            high="75.00",
            classifications=(Classification.customer,),
        ),
        Template(
            key="gamification_points",
            name="Learning points",
            description="Points for every completed course, spendable in the marketplace.",
            course_types=(),
            outcomes=_DONE,
            low="10",
            high="500",
            reward_kind=RewardKind.points,
            delivery=DeliveryModel.points,
            currency=POINTS,
        ),
        Template(
            key="microlearning",
            name="Microlearning",
            description="Small instant reward for short lessons.",
            course_types=(CourseType.microlearning,),
            outcomes=_DONE,
            low="5.00",
            high="25.00",
        ),
    )
}
