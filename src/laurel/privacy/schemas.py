from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from laurel.privacy.models import DataKind, Jurisdiction, LawfulBasis, RequestKind, RequestStatus


class PrivacyRequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    learner_id: uuid.UUID
    kind: RequestKind
    corrections: dict[str, Any] | None = Field(
        default=None,
        description="Correction requests only: learner fields and their right values",
        examples=[{"name": "Ana María Díaz"}],
    )
    received_at: AwareDatetime | None = Field(
        default=None, description="When the request reached you (its deadline runs from it)"
    )


class PrivacyRequestOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    learner_id: uuid.UUID
    kind: RequestKind
    jurisdiction: Jurisdiction
    status: RequestStatus
    received_at: datetime
    due_at: datetime
    completed_at: datetime | None
    reminded_at: datetime | None
    requested_by: str
    request: dict[str, Any]
    outcome: dict[str, Any]


class RefuseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


class ConsentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: str = Field(min_length=1, max_length=64, examples=["reward_delivery"])
    lawful_basis: LawfulBasis
    granted: bool = True
    recorded_at: AwareDatetime | None = None
    source: str = Field(min_length=1, max_length=200, examples=["lms:moodle"])


class ConsentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    purpose: str
    lawful_basis: LawfulBasis
    granted: bool
    recorded_at: datetime
    source: str
    actor: str
    created_at: datetime


class PrivacyProfileOut(BaseModel):
    learner_id: uuid.UUID
    jurisdiction: Jurisdiction
    pseudonymised_at: datetime | None
    sale_opt_out_at: datetime | None
    consents: list[ConsentOut]
    requests: list[PrivacyRequestOut]


class RetentionPolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jurisdiction: str = Field(description="gdpr, ccpa, pipeda, other, or any (the default)")
    data_kind: DataKind
    days: int = Field(ge=1, le=36500)


class RetentionPolicyOut(BaseModel):
    jurisdiction: str
    data_kind: DataKind
    days: int
    source: str = Field(description="`policy` (set by the organization) or `default`")


class RetentionRunOut(BaseModel):
    pseudonymised: list[uuid.UUID]
    financial_deleted: list[uuid.UUID]


class PhiIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fields: dict[str, str | None] = Field(
        description="Field name (lower_snake_case) to value; null removes the field",
        examples=[{"accommodation": "screen reader"}],
    )


class PhiOut(BaseModel):
    fields: dict[str, str]
