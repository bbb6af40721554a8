from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from laurel.catalog.models import RewardConversion
from laurel.kit.schemas import MoneyOut
from laurel.links.models import LinkSettings, LinkStatus, RewardLink


class ConversionOut(BaseModel):
    """How the reward was paid: fixed when the learner redeemed it."""

    original: MoneyOut = Field(description="The reward, in the program's currency")
    paid: MoneyOut = Field(description="What the learner received, after the fee")
    fee: MoneyOut
    rate: str = Field(description="Units of the paid currency per unit of the original")
    rate_date: str | None
    source: str
    usd_equivalent: MoneyOut = Field(description="At the day's rate, no fee: for tax totals")
    converted_on: str

    @classmethod
    def of(cls, row: RewardConversion) -> ConversionOut:
        return cls(
            original=MoneyOut.of(row.from_minor, row.from_currency),
            paid=MoneyOut.of(row.to_minor, row.to_currency),
            fee=MoneyOut.of(row.fee_minor, row.to_currency),
            rate=row.rate,
            rate_date=row.rate_date.isoformat() if row.rate_date else None,
            source=row.source,
            usd_equivalent=MoneyOut.of(row.usd_minor, "USD"),
            converted_on=row.converted_on.isoformat(),
        )


class LinkOut(BaseModel):
    id: uuid.UUID
    reward_id: uuid.UUID
    generation: int = Field(description="1 for the first link; each reissue adds one")
    status: LinkStatus
    url: str = Field(description="The link to send or embed (LMS email, certificate)")
    expires_at: datetime
    opened_at: datetime | None
    opens: int
    redeemed_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime
    chosen_item_id: uuid.UUID | None = Field(description="The catalog item the learner chose")
    conversion: ConversionOut | None = Field(
        default=None, description="Once redeemed (or being redeemed): how it was paid"
    )

    @classmethod
    def of(cls, link: RewardLink, url: str, conversion: RewardConversion | None = None) -> LinkOut:
        return cls(
            id=link.id,
            reward_id=link.reward_id,
            generation=link.generation,
            status=LinkStatus(link.status),
            url=url,
            expires_at=link.expires_at,
            opened_at=link.opened_at,
            opens=link.opens,
            redeemed_at=link.redeemed_at,
            revoked_at=link.revoked_at,
            created_at=link.created_at,
            chosen_item_id=link.catalog_item_id,
            conversion=ConversionOut.of(conversion) if conversion else None,
        )


class Brand(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    logo_url: str | None = Field(default=None, max_length=2000, description="http(s) URL")
    primary_color: str | None = Field(default=None, examples=["#1f4e79"])
    accent_color: str | None = Field(default=None, examples=["#f5f7fa"])
    support_contact: str | None = Field(
        default=None, max_length=200, description="Where learners ask for a new link"
    )


class LinkSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lifetime_days: int | None = Field(
        default=None, ge=1, le=3650, description="null: LAUREL_LINK_LIFETIME_DAYS"
    )
    brand: Brand = Field(default_factory=Brand, description="Overrides the organization's brand")


class LinkSettingsOut(BaseModel):
    program_id: uuid.UUID
    lifetime_days: int | None
    brand: dict[str, Any]

    @classmethod
    def of(cls, program_id: uuid.UUID, found: LinkSettings | None) -> LinkSettingsOut:
        return cls(
            program_id=program_id,
            lifetime_days=found.lifetime_days if found else None,
            brand=dict(found.brand) if found else {},
        )
