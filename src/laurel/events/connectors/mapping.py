"""Mapping options an organization sets per connector where sources differ."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

CourseId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ConnectorMapping(BaseModel):
    """Every option is optional; an unset option takes the connector's documented default."""

    model_config = ConfigDict(extra="forbid")

    learner_id: str | None = Field(
        default=None,
        description="Which source field is the learner's external id (the connector lists them)",
    )
    course_id: str | None = Field(
        default=None, description="Which source field is the course's external id"
    )
    course_ids: list[CourseId] | None = Field(
        default=None,
        max_length=10_000,
        description="Only events for these course ids count; others are answered and ignored. "
        "Unset: every course counts.",
    )
    score_scale: Annotated[float, Field(gt=0, le=1_000_000)] | None = Field(
        default=None,
        description="What a full score is in the source (100 for percentages); scores are "
        "divided by it to the 0–1 scale Laurel stores",
    )
    pass_score: Annotated[float, Field(ge=0, le=1)] | None = Field(
        default=None,
        description="For grade events without a pass flag (Canvas): a scaled score at or above "
        "this is `passed`; unset, grade events are stored as progress and never pay",
    )
    timezone: str = Field(
        default="UTC",
        description="IANA zone of source times written without an offset (Docebo writes "
        "`YYYY-MM-DD HH:MM:SS`)",
    )
    base_url: str | None = Field(
        default=None,
        max_length=300,
        description="Polled sources: the API root, e.g. https://acme.talentlms.com",
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="Connector-specific settings (see the connector guide)"
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value == "UTC":
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone such as Europe/Madrid") from exc
        return value
