"""Storage for the points ledger and what hangs on it (policies, badges, marketplace).

The ledger is double-entry: a transaction is a set of entries on accounts whose amounts sum to
zero. Entries are never updated or deleted; a correction is a new transaction. Each account
keeps a ``balance`` maintained in the same transaction as its entries (for fast reads) and
``reconcile`` proves it equals the sum of the entries. Amounts are whole points (``PTS``).

Sign convention: an entry's amount is what the account gains. A wallet is positive (points the
learner holds); the program liability goes negative as points are issued; the redemption and
expiry accounts grow positive as points leave wallets.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit.clock import utcnow
from laurel.kit.orm import Base, TenantMixin


class AccountKind(StrEnum):
    wallet = "wallet"
    """A learner's points; never negative."""
    liability = "liability"
    """Points a program has issued and not yet seen spent or expired."""
    redemption = "redemption"
    """Points spent in the marketplace."""
    expiry = "expiry"
    """Points that expired unspent."""
    adjustment = "adjustment"
    """Manual grants and corrections by admins."""


class TransactionKind(StrEnum):
    earn = "earn"
    bonus = "bonus"
    grant = "grant"
    redeem = "redeem"
    refund = "refund"
    """A redemption that was held, failed or cancelled gives its points back."""
    reversal = "reversal"
    expire = "expire"


EARNING_KINDS = (TransactionKind.earn, TransactionKind.bonus, TransactionKind.grant)
"""What counts on leaderboards and against caps: points received, not points spent."""


class PointsAccount(TenantMixin, Base):
    __tablename__ = "points_accounts"
    __table_args__ = (
        UniqueConstraint("organization_id", "livemode", "key"),
        # The last line of defence: no code path can leave a wallet below zero.
        CheckConstraint("kind <> 'wallet' OR balance >= 0", name="wallet_not_negative"),
    )

    livemode: Mapped[bool] = mapped_column(default=True)
    key: Mapped[str] = mapped_column(String(100))
    """``wallet:<learner id>``, ``liability:<program id>``, ``redemption``, ``expiry``,
    ``adjustment``."""
    kind: Mapped[str] = mapped_column(String(16))
    learner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("learners.id"), default=None)
    program_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("programs.id"), default=None)
    balance: Mapped[int] = mapped_column(default=0)
    """Points: the sum of this account's entries, kept in step by every posting."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PointsTransaction(TenantMixin, Base):
    __tablename__ = "points_transactions"
    __table_args__ = (
        # Idempotency: a replayed posting finds the first one.
        UniqueConstraint("organization_id", "livemode", "key"),
        Index(None, "organization_id", "livemode", "learner_id", "id"),
    )

    livemode: Mapped[bool] = mapped_column(default=True)
    key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    learner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("learners.id"), default=None)
    program_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("programs.id"), default=None)
    reward_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    """The reward that earned (points program) or spent (redemption) these points."""
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("points_transactions.id"), default=None
    )
    points: Mapped[int]
    """Points moved into (positive) or out of (negative) the learner's wallet; 0 if none."""
    memo: Mapped[str] = mapped_column(String(500), default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    actor: Mapped[str] = mapped_column(String(200))
    occurred_at: Mapped[datetime]
    """When the activity happened (a completion's time); ``created_at`` is when it was booked."""


class PointsEntry(TenantMixin, Base):
    __tablename__ = "points_entries"
    __table_args__ = (
        Index(None, "transaction_id"),
        Index(None, "account_id", "id"),
    )

    transaction_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("points_transactions.id"))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("points_accounts.id"))
    amount: Mapped[int]
    """Points the account gains (negative: loses)."""


class PointsLot(TenantMixin, Base):
    """Points received together, spent and expired first-in first-out.

    The remaining points of a learner's lots always add up to the wallet's balance.
    """

    __tablename__ = "points_lots"
    __table_args__ = (
        Index(None, "organization_id", "livemode", "learner_id", "expires_at"),
        Index(None, "expires_at"),
    )

    livemode: Mapped[bool] = mapped_column(default=True)
    learner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learners.id"))
    program_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("programs.id"), default=None)
    transaction_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("points_transactions.id"))
    points: Mapped[int]
    remaining: Mapped[int]
    earned_at: Mapped[datetime]
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    """None: never expires."""


class PointsPeriodTotal(TenantMixin, Base):
    """Points earned per learner and program in a year, a quarter and a month, kept with each
    posting (one row per period and program, plus one across all programs): a leaderboard is
    the top of one index range, never a sum over entries."""

    __tablename__ = "points_period_totals"
    __table_args__ = (
        UniqueConstraint("organization_id", "livemode", "period", "learner_id", "program_id"),
        # The board: one (period, program) range in points order.
        Index(
            "ix_points_period_totals_board",
            "organization_id",
            "livemode",
            "period",
            "program_id",
            "earned",
            "learner_id",
        ),
    )

    livemode: Mapped[bool] = mapped_column(default=True)
    period: Mapped[str] = mapped_column(String(7))
    """``2026``, ``2026-Q4`` or ``2026-11``: when the activity happened."""
    learner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learners.id"))
    program_id: Mapped[uuid.UUID]
    """The program; the nil UUID for grants without one; ``ALL_PROGRAMS`` for the total across
    programs (no foreign key, so the unique key has no NULL in it)."""
    earned: Mapped[int] = mapped_column(default=0)


class PointsPolicy(TenantMixin, Base):
    """How a points program earns, caps and expires points (one row per program)."""

    __tablename__ = "points_policies"
    __table_args__ = (UniqueConstraint("organization_id", "program_id"),)

    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id"))
    multipliers: Mapped[list[Any]] = mapped_column(default=list)
    """[{"name", "courses": [...], "course_types": [...], "tags": [...],
    "starts_at", "ends_at", "factor": "1.5"}]; all that match multiply."""
    streak: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """{"min_weeks": 2, "bonus": 50, "max_bonus": 500}: bonus × (weeks - min_weeks + 1)."""
    caps: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """{"week": n, "month": n, "year": n}: most points a learner earns in the period."""
    expiry_months: Mapped[int | None] = mapped_column(default=None)
    notice_days: Mapped[int] = mapped_column(default=30)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200), default="")


class PointsSettings(TenantMixin, Base):
    """Per organization: marketplace rate and program, grant approvals, leaderboard privacy."""

    __tablename__ = "points_settings"
    __table_args__ = (UniqueConstraint("organization_id"),)

    points_per_unit: Mapped[int] = mapped_column(default=100)
    """Points one major unit of the item's currency costs (100: 1.00 USD = 100 points)."""
    redemption_program_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("programs.id"), default=None
    )
    grant_approval_threshold: Mapped[int | None] = mapped_column(default=None)
    """Grants above this many points wait for a second admin; None: never."""
    private_countries: Mapped[list[Any]] = mapped_column(default=list)
    """Countries whose learners appear as initials on leaderboards unless they opt in.
    Empty: the EU/EEA default (see leaderboards)."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class StreakState(TenantMixin, Base):
    __tablename__ = "points_streaks"
    __table_args__ = (UniqueConstraint("organization_id", "livemode", "learner_id", "program_id"),)

    livemode: Mapped[bool] = mapped_column(default=True)
    learner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learners.id"))
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id"))
    last_week: Mapped[date]
    """Monday of the last ISO week with a completion."""
    weeks: Mapped[int]
    """Consecutive ISO weeks with a completion, ending at ``last_week``."""


class GrantState(StrEnum):
    pending = "pending"
    posted = "posted"
    rejected = "rejected"


class PointsGrant(TenantMixin, Base):
    __tablename__ = "points_grants"
    __table_args__ = (
        UniqueConstraint("organization_id", "livemode", "request_key"),
        Index(None, "organization_id", "state"),
    )

    livemode: Mapped[bool] = mapped_column(default=True)
    request_key: Mapped[str] = mapped_column(String(200))
    learner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learners.id"))
    program_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("programs.id"), default=None)
    points: Mapped[int]
    reason: Mapped[str] = mapped_column(String(500))
    activity: Mapped[str] = mapped_column(String(64), default="other")
    """``instructor_led``, ``role_play``, ``other``: what was done without an LMS event."""
    state: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(200))
    decided_by: Mapped[str | None] = mapped_column(String(200), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    transaction_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("points_transactions.id"), default=None
    )


class Badge(TenantMixin, Base):
    __tablename__ = "points_badges"
    __table_args__ = (UniqueConstraint("organization_id", "key"),)

    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000), default="")
    image_url: Mapped[str | None] = mapped_column(String(2000), default=None)
    criteria: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """{"kind": "all_of_type", "course_type": "compliance", "period": "year"} or
    {"kind": "count", "course_type": "certification", "count": 5, "period": "ever"}."""
    active: Mapped[bool] = mapped_column(default=True)


class BadgeAward(TenantMixin, Base):
    __tablename__ = "points_badge_awards"
    __table_args__ = (
        UniqueConstraint("organization_id", "livemode", "badge_id", "learner_id", "period"),
        Index(None, "organization_id", "livemode", "learner_id"),
    )

    livemode: Mapped[bool] = mapped_column(default=True)
    badge_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("points_badges.id"))
    learner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learners.id"))
    period: Mapped[str] = mapped_column(String(8))
    """``ever`` or the year the criteria were met in."""
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    awarded_at: Mapped[datetime] = mapped_column(default=utcnow)


class LearnerPreference(TenantMixin, Base):
    __tablename__ = "points_preferences"
    __table_args__ = (UniqueConstraint("organization_id", "livemode", "learner_id"),)

    livemode: Mapped[bool] = mapped_column(default=True)
    learner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learners.id"))
    leaderboard_opt_out: Mapped[bool] = mapped_column(default=False)
    show_name: Mapped[bool | None] = mapped_column(default=None)
    """None: the jurisdiction's default; True/False: the learner's own choice."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ExpiryNotice(TenantMixin, Base):
    """A learner was told points expire: one per learner and expiry day (outbox source)."""

    __tablename__ = "points_expiry_notices"
    __table_args__ = (UniqueConstraint("organization_id", "livemode", "learner_id", "expires_on"),)

    livemode: Mapped[bool] = mapped_column(default=True)
    learner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learners.id"))
    expires_on: Mapped[date]
    points: Mapped[int]
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    """Set when the notice's email was queued in the outbox (``expiry.queue_notices``), or
    when the organization sends learners no email."""


class PointsOffer(TenantMixin, Base):
    """An item learners can buy with points: a catalog item id and the value it is issued at."""

    __tablename__ = "points_offers"
    __table_args__ = (UniqueConstraint("organization_id", "catalog_item_id", "value_minor"),)

    catalog_item_id: Mapped[uuid.UUID]
    """The catalog item (``laurel.catalog``) this offer issues."""
    name: Mapped[str] = mapped_column(String(200))
    value_minor: Mapped[int]
    """Face value in minor units of ``currency``."""
    currency: Mapped[str] = mapped_column(String(3))
    sku: Mapped[str | None] = mapped_column(String(200), default=None)
    points: Mapped[int]
    """What it costs, fixed when the offer is made (value at the organization's rate)."""
    active: Mapped[bool] = mapped_column(default=True)


class RedemptionState(StrEnum):
    pending = "pending"
    """Points taken, the reward is on its way through the gates and delivery."""
    delivered = "delivered"
    returned = "returned"
    """The reward was held, failed, cancelled or rejected: the points went back."""


class Redemption(TenantMixin, Base):
    __tablename__ = "points_redemptions"
    __table_args__ = (
        UniqueConstraint("organization_id", "livemode", "request_key"),
        UniqueConstraint("reward_id"),
        Index(None, "organization_id", "livemode", "learner_id"),
    )

    livemode: Mapped[bool] = mapped_column(default=True)
    request_key: Mapped[str] = mapped_column(String(200))
    learner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learners.id"))
    offer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("points_offers.id"))
    points: Mapped[int]
    value_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    state: Mapped[str] = mapped_column(String(16))
    reward_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    debit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("points_transactions.id"))
    refund_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("points_transactions.id"), default=None
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
