from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from laurel.imports.models import FileFormat, ImportKind, ImportStatus
from laurel.kit import currency

MappingName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Header = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ImportOptions(BaseModel):
    """How to read values that files write differently."""

    model_config = ConfigDict(extra="forbid")

    date_format: str | None = Field(
        default=None,
        description="strptime format for dates that are not ISO 8601, e.g. `%m/%d/%Y`",
        examples=["%m/%d/%Y"],
    )
    timezone: str = Field(default="UTC", description="IANA zone of times written without one")
    score_scale: Decimal = Field(
        default=Decimal(100), gt=0, description="Scores are out of this (100: percentages)"
    )
    currency: str | None = Field(
        default=None, description="Currency of the amount column when there is no currency column"
    )
    decimal_separator: Literal[".", ","] | None = Field(
        default=None,
        description="Decimal mark of numbers written as text (score, amount). Unset: `.`, and "
        "in a CSV delimited by `;` also `,` (a value that reads both ways, such as `1.250`, "
        "is refused). The other mark may only separate thousands (`1.250,50`).",
        examples=[","],
    )
    replace_smaller: bool = Field(
        default=False,
        description="Rosters only: apply a roster that lists fewer than half the active "
        "workers of the roster in force. Unset, such a roster is refused as a likely partial "
        "export (it would hold the rewards of every active worker it leaves out).",
    )

    @field_validator("date_format")
    @classmethod
    def _format(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                datetime.now(UTC).strftime(value)
            except ValueError:
                raise ValueError(f"{value!r} is not a strftime format") from None
            if "%" not in value:
                raise ValueError("a date format needs directives such as %d, %m and %Y")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value != "UTC":
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"{value!r} is not an IANA time zone such as Europe/Berlin"
                ) from None
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        if value is not None and not currency.is_known(value):
            raise ValueError(f"{value!r} is not an active ISO 4217 code")
        return value


class MappingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    columns: dict[str, Header] = Field(
        default_factory=dict,
        description="Field name → the file's header for it; fields left out are recognised by "
        "common header names",
        examples=[{"learner_id": "User ID", "completion_date": "Date Completed"}],
    )
    options: ImportOptions = Field(default_factory=ImportOptions)


class MappingOut(BaseModel):
    id: uuid.UUID
    kind: ImportKind
    name: str
    columns: dict[str, str]
    options: dict[str, Any]
    created_at: datetime
    updated_at: datetime | None


class RowError(BaseModel):
    column: str = Field(description="The file's header of the bad cell, or (row)")
    field: str = Field(description="The field that column maps to")
    reason: str
    severity: Literal["error", "warning"] = Field(
        default="error",
        # Left out of errors: answers keep the shape they had before warnings existed.
        exclude_if=lambda severity: severity == "error",
        description="`warning` (only then present): the row was imported without this value "
        "(a roster hire date that cannot be read). Absent: an error, the row was rejected",
    )


class RejectedRow(BaseModel):
    line: int = Field(description="Row number as a spreadsheet shows it; the header is 1")
    errors: list[RowError]


class ImportOut(BaseModel):
    id: uuid.UUID
    kind: ImportKind
    status: ImportStatus
    livemode: bool
    filename: str
    format: FileFormat
    sha256: str
    size_bytes: int
    mapping_name: str | None
    columns: dict[str, str] = Field(description="Field → the header it was read from")
    options: dict[str, Any]
    rows_total: int | None
    rows_read: int = Field(description="Data rows done (committed)")
    accepted: int = Field(description="Rows stored as new events or roster entries")
    replayed: int = Field(description="Rows imported before: no new event, no new reward")
    rejected: int
    warnings: int = Field(
        default=0, description="Rows imported with warnings (counted in accepted, not rejected)"
    )
    rewards: int = Field(description="Rewards the accepted rows created")
    error: str | None = Field(
        description="Why a failed import could not read its file, or why a roster was not applied"
    )
    rejected_rows: list[RejectedRow] = Field(
        description="The first rejected rows and rows imported with warnings, in line order; "
        "every one is in the rejections CSV"
    )
    rejections_csv: str = Field(description="Path of the CSV of every rejected row")
    created_at: datetime
    finished_at: datetime | None
