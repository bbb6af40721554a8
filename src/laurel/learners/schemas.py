from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from laurel.kit.schemas import refuse_null
from laurel.learners.models import Classification

ExternalId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
Region = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,3}$")]
Locale = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=35)
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class LearnerFields(BaseModel):
    """Learner attributes that may arrive with an event or through the API."""

    model_config = ConfigDict(extra="forbid")

    email: Email | None = None
    name: Name | None = None
    classification: Classification | None = None
    department: Name | None = None
    manager: Name | None = None
    country: Country | None = Field(default=None, description="ISO 3166-1 alpha-2, upper case")
    region: Region | None = Field(
        default=None,
        description="ISO 3166-2 subdivision within the country (CA for California): decides "
        "the privacy jurisdiction",
    )
    locale: Locale | None = Field(default=None, description="BCP 47 tag such as es-MX")


class LearnerRef(LearnerFields):
    external_id: ExternalId


class LearnerCreate(LearnerRef):
    pass


class LearnerUpdate(LearnerFields):
    """Attributes to change; null clears an optional one."""

    _not_null = field_validator("classification")(refuse_null)


class LearnerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    external_id: str
    email: str | None
    name: str | None
    classification: Classification
    department: str | None
    manager: str | None
    country: str | None
    region: str | None
    locale: str | None
    livemode: bool
    created_at: datetime
    updated_at: datetime
