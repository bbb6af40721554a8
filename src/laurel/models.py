"""Imports every domain's models so metadata (Alembic, tests) sees the whole schema."""

from laurel.approvals.models import Approval
from laurel.audit.models import AuditEntry, AuditHead
from laurel.auth.models import ApiKey
from laurel.budgets.models import Budget, BudgetReservation
from laurel.courses.models import Course
from laurel.delivery.models import Delivery, SandboxIssuance
from laurel.events.connectors.caliper.models import CaliperEvent
from laurel.events.connectors.models import ConnectorConfig, ConnectorSecret, DeadLetter, PollCursor
from laurel.events.connectors.xapi.models import XapiReview, XapiStatement
from laurel.events.models import CompletionEvent
from laurel.imports.models import Import, ImportMapping, ImportRejection
from laurel.kit.orm import Base
from laurel.learners.models import Learner
from laurel.organizations.models import Organization
from laurel.points.models import (
    Badge,
    BadgeAward,
    ExpiryNotice,
    LearnerPreference,
    PointsAccount,
    PointsEntry,
    PointsGrant,
    PointsLot,
    PointsOffer,
    PointsPeriodTotal,
    PointsPolicy,
    PointsSettings,
    PointsTransaction,
    Redemption,
    StreakState,
)
from laurel.programs.models import Program, ProgramVersion, RewardRule, RewardRuleVersion
from laurel.rewards.models import Reward
from laurel.roster.models import Roster, RosterEntry
from laurel.screening.models import (
    ListEntry,
    ListVersion,
    ReviewCase,
    SanctionsReport,
    ScreeningResult,
)

__all__ = [
    "ApiKey",
    "Approval",
    "AuditEntry",
    "AuditHead",
    "Badge",
    "BadgeAward",
    "Base",
    "Budget",
    "BudgetReservation",
    "CaliperEvent",
    "CompletionEvent",
    "ConnectorConfig",
    "ConnectorSecret",
    "Course",
    "DeadLetter",
    "Delivery",
    "ExpiryNotice",
    "Import",
    "ImportMapping",
    "ImportRejection",
    "Learner",
    "LearnerPreference",
    "ListEntry",
    "ListVersion",
    "Organization",
    "PointsAccount",
    "PointsEntry",
    "PointsGrant",
    "PointsLot",
    "PointsOffer",
    "PointsPeriodTotal",
    "PointsPolicy",
    "PointsSettings",
    "PointsTransaction",
    "PollCursor",
    "Program",
    "ProgramVersion",
    "Redemption",
    "ReviewCase",
    "Reward",
    "RewardRule",
    "RewardRuleVersion",
    "Roster",
    "RosterEntry",
    "SanctionsReport",
    "SandboxIssuance",
    "ScreeningResult",
    "StreakState",
    "XapiReview",
    "XapiStatement",
]
