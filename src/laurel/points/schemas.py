"""Pydantic shapes of the points API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from laurel.kit.schemas import MoneyIn, MoneyOut
from laurel.points.leaderboards import Board, BoardScope, Place
from laurel.points.models import (
    Badge,
    BadgeAward,
    LearnerPreference,
    PointsGrant,
    PointsOffer,
    PointsPolicy,
    PointsSettings,
    PointsTransaction,
    Redemption,
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LotOut(BaseModel):
    points: int
    expires_at: datetime


class WalletOut(BaseModel):
    learner_id: uuid.UUID
    balance: int = Field(description="Points the learner holds")
    expiring: list[LotOut] = Field(description="Points with an end date, soonest first")
    badges: int


class TransactionOut(BaseModel):
    id: uuid.UUID
    key: str
    kind: str
    points: int = Field(description="Into (+) or out of (-) the learner's wallet")
    program_id: uuid.UUID | None
    reward_id: uuid.UUID | None
    reverses_id: uuid.UUID | None
    memo: str
    details: dict[str, Any]
    actor: str
    occurred_at: datetime
    created_at: datetime

    @classmethod
    def of(cls, t: PointsTransaction) -> TransactionOut:
        return cls(
            id=t.id,
            key=t.key,
            kind=t.kind,
            points=t.points,
            program_id=t.program_id,
            reward_id=t.reward_id,
            reverses_id=t.reverses_id,
            memo=t.memo,
            details=t.details,
            actor=t.actor,
            occurred_at=t.occurred_at,
            created_at=t.created_at,
        )


class ReverseIn(Strict):
    reason: str = Field(min_length=1, max_length=500)


class GrantIn(Strict):
    learner_id: uuid.UUID
    points: int = Field(ge=1, le=10_000_000)
    reason: str = Field(min_length=1, max_length=500)
    activity: Literal["instructor_led", "role_play", "event", "correction", "other"] = "other"
    program_id: uuid.UUID | None = None
    request_key: str | None = Field(
        default=None, max_length=200, description="Makes the request idempotent"
    )


class GrantOut(BaseModel):
    id: uuid.UUID
    learner_id: uuid.UUID
    points: int
    reason: str
    activity: str
    state: str
    requested_by: str
    decided_by: str | None
    transaction_id: uuid.UUID | None
    created_at: datetime

    @classmethod
    def of(cls, g: PointsGrant) -> GrantOut:
        return cls(
            id=g.id,
            learner_id=g.learner_id,
            points=g.points,
            reason=g.reason,
            activity=g.activity,
            state=g.state,
            requested_by=g.requested_by,
            decided_by=g.decided_by,
            transaction_id=g.transaction_id,
            created_at=g.created_at,
        )


class RejectIn(Strict):
    reason: str = Field(min_length=1, max_length=500)


class Multiplier(Strict):
    name: str | None = None
    courses: list[str] = []
    course_types: list[str] = []
    tags: list[str] = []
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    factor: str = Field(examples=["1.5"], description="Decimal string, above 0 and at most 10")


class Streak(Strict):
    min_weeks: int = Field(default=2, ge=1)
    bonus: int = Field(default=0, ge=0)
    max_bonus: int | None = Field(default=None, ge=0)


class Caps(Strict):
    week: int | None = Field(default=None, ge=0)
    month: int | None = Field(default=None, ge=0)
    year: int | None = Field(default=None, ge=0)


class PolicyIn(Strict):
    multipliers: list[Multiplier] = []
    streak: Streak = Streak()
    caps: Caps = Caps()
    expiry_months: int | None = Field(default=None, ge=1, le=240)
    notice_days: int = Field(default=30, ge=0, le=365)

    def to_fields(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["caps"] = {k: v for k, v in data["caps"].items() if v is not None}
        data["multipliers"] = [
            {k: v for k, v in m.items() if v not in (None, [])} for m in data["multipliers"]
        ]
        return data


class PolicyOut(BaseModel):
    program_id: uuid.UUID
    multipliers: list[dict[str, Any]]
    streak: dict[str, Any]
    caps: dict[str, Any]
    expiry_months: int | None
    notice_days: int
    updated_by: str

    @classmethod
    def of(cls, p: PointsPolicy) -> PolicyOut:
        return cls(
            program_id=p.program_id,
            multipliers=p.multipliers,
            streak=p.streak,
            caps=p.caps,
            expiry_months=p.expiry_months,
            notice_days=p.notice_days,
            updated_by=p.updated_by,
        )


class SettingsIn(Strict):
    points_per_unit: int | None = Field(default=None, ge=1)
    redemption_program_id: uuid.UUID | None = None
    grant_approval_threshold: int | None = Field(default=None, ge=0)
    private_countries: list[str] | None = Field(
        default=None, description="ISO 3166-1 alpha-2; empty: the EU/EEA default"
    )


class SettingsOut(BaseModel):
    points_per_unit: int
    redemption_program_id: uuid.UUID | None
    grant_approval_threshold: int | None
    private_countries: list[str]

    @classmethod
    def of(cls, s: PointsSettings) -> SettingsOut:
        return cls(
            points_per_unit=s.points_per_unit,
            redemption_program_id=s.redemption_program_id,
            grant_approval_threshold=s.grant_approval_threshold,
            private_countries=list(s.private_countries or []),
        )


class BadgeIn(Strict):
    key: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    image_url: str | None = Field(default=None, max_length=2000)
    criteria: dict[str, Any] = Field(
        examples=[{"kind": "all_of_type", "course_type": "compliance", "period": "year"}]
    )


class BadgeOut(BaseModel):
    id: uuid.UUID
    key: str
    name: str
    description: str
    image_url: str | None
    criteria: dict[str, Any]

    @classmethod
    def of(cls, b: Badge) -> BadgeOut:
        return cls(
            id=b.id,
            key=b.key,
            name=b.name,
            description=b.description,
            image_url=b.image_url,
            criteria=b.criteria,
        )


class AwardOut(BaseModel):
    id: uuid.UUID
    badge: BadgeOut
    learner_id: uuid.UUID
    period: str
    evidence: dict[str, Any]
    awarded_at: datetime

    @classmethod
    def of(cls, a: BadgeAward, b: Badge) -> AwardOut:
        return cls(
            id=a.id,
            badge=BadgeOut.of(b),
            learner_id=a.learner_id,
            period=a.period,
            evidence=a.evidence,
            awarded_at=a.awarded_at,
        )


class EvaluateIn(Strict):
    learner_ids: list[uuid.UUID] = Field(min_length=1, max_length=5000)


class CredentialOut(BaseModel):
    credential: dict[str, Any] = Field(description="The OpenBadgeCredential (JSON-LD)")
    jwt: str = Field(description="The same credential as a VC-JWT signed with EdDSA (Ed25519)")


class PlaceOut(BaseModel):
    rank: int
    learner_id: uuid.UUID
    name: str = Field(description="Full name, or initials where privacy requires")
    points: int

    @classmethod
    def of(cls, p: Place) -> PlaceOut:
        return cls(rank=p.rank, learner_id=p.learner_id, name=p.name, points=p.points)


class BoardOut(BaseModel):
    scope: BoardScope
    period: str
    places: list[PlaceOut]
    you: PlaceOut | None

    @classmethod
    def of(cls, b: Board) -> BoardOut:
        return cls(
            scope=b.scope,
            period=b.period,
            places=[PlaceOut.of(p) for p in b.places],
            you=PlaceOut.of(b.you) if b.you else None,
        )


class PreferenceIn(Strict):
    leaderboard_opt_out: bool | None = None
    show_name: bool | None = Field(
        default=None, description="true/false: the learner's choice; null: the jurisdiction's"
    )


class PreferenceOut(BaseModel):
    learner_id: uuid.UUID
    leaderboard_opt_out: bool
    show_name: bool | None

    @classmethod
    def of(cls, p: LearnerPreference) -> PreferenceOut:
        return cls(
            learner_id=p.learner_id,
            leaderboard_opt_out=p.leaderboard_opt_out,
            show_name=p.show_name,
        )


class OfferIn(Strict):
    catalog_item_id: uuid.UUID
    name: str = Field(min_length=1, max_length=200)
    value: MoneyIn
    sku: str | None = Field(default=None, max_length=200)


class OfferOut(BaseModel):
    id: uuid.UUID
    catalog_item_id: uuid.UUID
    name: str
    value: MoneyOut
    sku: str | None
    points: int

    @classmethod
    def of(cls, o: PointsOffer) -> OfferOut:
        return cls(
            id=o.id,
            catalog_item_id=o.catalog_item_id,
            name=o.name,
            value=MoneyOut.of(o.value_minor, o.currency),
            sku=o.sku,
            points=o.points,
        )


class RedeemIn(Strict):
    learner_id: uuid.UUID
    offer_id: uuid.UUID
    request_key: str = Field(min_length=1, max_length=200, description="Idempotency key")


class RedemptionOut(BaseModel):
    id: uuid.UUID
    learner_id: uuid.UUID
    offer_id: uuid.UUID
    points: int
    value: MoneyOut
    state: str
    reward_id: uuid.UUID | None
    created_at: datetime

    @classmethod
    def of(cls, r: Redemption) -> RedemptionOut:
        return cls(
            id=r.id,
            learner_id=r.learner_id,
            offer_id=r.offer_id,
            points=r.points,
            value=MoneyOut.of(r.value_minor, r.currency),
            state=r.state,
            reward_id=r.reward_id,
            created_at=r.created_at,
        )


class ExpiryRunOut(BaseModel):
    expired_lots: int
    notices: int


class ReconcileOut(BaseModel):
    ok: bool
    transactions: int
    entries: int
    total: int
    unbalanced: list[uuid.UUID]
    drifted: list[dict[str, Any]]
    negative_wallets: list[uuid.UUID]
    lot_mismatches: list[dict[str, Any]]
