"""API shapes for screening checks, list versions and review cases."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from laurel.screening.cases import CaseView
from laurel.screening.models import CaseStatus, ListVersion
from laurel.screening.service import Screening


class CheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=500, examples=["Ismail Haniyeh"])
    country: str | None = Field(
        default=None,
        max_length=6,
        description="ISO 3166-1 alpha-2 (IR) or ISO 3166-2 (UA-43)",
        examples=["PS"],
    )


class MatchOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    list_code: str = Field(
        alias="list", description="`SDN` or `CONS` (consolidated non-SDN)", examples=["SDN"]
    )
    entry_id: str = Field(description="OFAC's ent_num", examples=["23627"])
    name: str = Field(description="The entry's primary name")
    matched_name: str = Field(description="The primary name or alias that scored best")
    type: str = Field(description="individual, entity, vessel or aircraft")
    score: float = Field(ge=0, le=1, examples=[0.93])
    programs: list[str]
    countries: list[str] = Field(description="Countries of the entry's addresses")
    remarks: str


class CheckOut(BaseModel):
    decision: Literal["clear", "review", "unscreened"] = Field(
        description="`review` when a match or a sanctioned country needs a person; "
        "`unscreened` only before any list was imported (the country was still checked)"
    )
    list_version: uuid.UUID | None
    country_hit: str | None = Field(description="The sanctioned jurisdiction the country is in")
    threshold: float
    matches: list[MatchOut] = Field(description="Entries at or above the threshold, best first")
    result_id: uuid.UUID | None = Field(default=None, description="The stored screening result")

    @classmethod
    def of(cls, screening: Screening, result_id: uuid.UUID | None = None) -> CheckOut:
        return cls(
            decision=screening.decision.value,
            list_version=screening.list_version_id,
            country_hit=screening.country_hit,
            threshold=screening.threshold,
            matches=[MatchOut(**m) for m in screening.matches],
            result_id=result_id,
        )


class ImportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        pattern=r"^https?://",
        max_length=2000,
        description="Base URL holding sdn.csv, alt.csv, add.csv (and the cons_*.csv files)",
        examples=["https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports"],
    )
    list_date: datetime | None = Field(
        default=None, description="Publication date, when the server does not send Last-Modified"
    )


class ListVersionOut(BaseModel):
    id: uuid.UUID
    checksum: str
    list_date: datetime | None
    list_date_source: str
    source: str
    files: dict[str, Any]
    entries: int
    imported_at: datetime
    imported_by: str

    @classmethod
    def of(cls, version: ListVersion) -> ListVersionOut:
        return cls(
            id=version.id,
            checksum=version.checksum,
            list_date=version.list_date,
            list_date_source=version.list_date_source,
            source=version.source,
            files=version.files,
            entries=version.entries,
            imported_at=version.imported_at,
            imported_by=version.imported_by,
        )


class ImportOut(BaseModel):
    version: ListVersionOut
    created: bool = Field(description="False when the same files were imported before")
    rescreened: int = Field(description="Held rewards screened again against this version")


class ReportOut(BaseModel):
    id: uuid.UUID
    reviewer: str
    due_at: datetime
    details: dict[str, Any]


class CaseOut(BaseModel):
    id: uuid.UUID
    reward_id: uuid.UUID
    learner_id: uuid.UUID
    status: Literal["open", "cleared", "confirmed", "superseded"]
    query_name: str | None
    query_country: str | None
    list_version: uuid.UUID | None
    country_hit: str | None
    score: float | None
    threshold: float
    matches: list[MatchOut]
    reviewer: str | None
    reason: str | None
    created_at: datetime
    decided_at: datetime | None
    report: ReportOut | None

    @classmethod
    def of(cls, view: CaseView) -> CaseOut:
        case, result, report = view.case, view.result, view.report
        return cls(
            id=case.id,
            reward_id=case.reward_id,
            learner_id=case.learner_id,
            status=CaseStatus(case.status).value,
            query_name=result.query_name,
            query_country=result.query_country,
            list_version=result.list_version_id,
            country_hit=result.country_hit,
            score=result.score,
            threshold=result.threshold,
            matches=[MatchOut(**m) for m in result.matches],
            reviewer=case.reviewer,
            reason=case.reason,
            created_at=case.created_at,
            decided_at=case.decided_at,
            report=ReportOut(
                id=report.id, reviewer=report.reviewer, due_at=report.due_at, details=report.details
            )
            if report
            else None,
        )


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000, examples=["different date of birth"])


class UnblockOut(BaseModel):
    rechecked: int = Field(description="Rewards held for the block that ran the pipeline again")
