"""Imports every domain's models so metadata (Alembic, tests) sees the whole schema."""

from laurel.analytics.models import Cohort, LearningPair, ReportSnapshot
from laurel.approvals.models import Approval
from laurel.audit.models import AuditEntry, AuditHead
from laurel.auth.models import ApiKey, OidcLogin, OidcProvider, PasswordReset, User, UserSession
from laurel.budgets.models import Budget, BudgetReservation, BudgetWindow
from laurel.catalog.models import CatalogItem, RewardConversion
from laurel.courses.models import Course
from laurel.delivery.models import (
    Delivery,
    InventoryCode,
    InventoryStock,
    ProviderAttempt,
    ProviderRoute,
    SandboxIssuance,
)
from laurel.enrolments.models import Enrolment
from laurel.events.connectors.caliper.models import CaliperEvent
from laurel.events.connectors.models import ConnectorConfig, ConnectorSecret, DeadLetter, PollCursor
from laurel.events.connectors.xapi.models import XapiReview, XapiStatement
from laurel.events.models import CompletionEvent
from laurel.fcpa.models import FcpaSettings
from laurel.fx.models import FxRate
from laurel.imports.models import Import, ImportMapping, ImportRejection
from laurel.kit.orm import Base
from laurel.learners.models import Learner
from laurel.links.models import LinkSettings, RewardLink
from laurel.notifications.models import EmailSettings, OutboxEmail
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
from laurel.portal.models import LearnerSession, LearnerSignInLink
from laurel.privacy.models import ConsentRecord, PhiRecord, PrivacyRequest, RetentionPolicy
from laurel.programs.models import (
    HoldoutAssignment,
    Program,
    ProgramVersion,
    RewardRule,
    RewardRuleVersion,
)
from laurel.rewards.models import Reward
from laurel.roster.models import Roster, RosterEntry
from laurel.screening.models import (
    ListEntry,
    ListVersion,
    ReviewCase,
    SanctionsReport,
    ScreeningResult,
)
from laurel.tax.models import (
    TaxFormRequest,
    TaxProfile,
    TaxRecord,
    TaxSettings,
    TaxThreshold,
)
from laurel.webhooks.models import Attempt as WebhookAttempt
from laurel.webhooks.models import Message as WebhookMessage
from laurel.webhooks.models import Subscription as WebhookSubscription

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
    "BudgetWindow",
    "CaliperEvent",
    "CatalogItem",
    "Cohort",
    "CompletionEvent",
    "ConnectorConfig",
    "ConnectorSecret",
    "ConsentRecord",
    "Course",
    "DeadLetter",
    "Delivery",
    "EmailSettings",
    "Enrolment",
    "ExpiryNotice",
    "FcpaSettings",
    "FxRate",
    "HoldoutAssignment",
    "Import",
    "ImportMapping",
    "ImportRejection",
    "InventoryCode",
    "InventoryStock",
    "Learner",
    "LearnerPreference",
    "LearnerSession",
    "LearnerSignInLink",
    "LearningPair",
    "LinkSettings",
    "ListEntry",
    "ListVersion",
    "OidcLogin",
    "OidcProvider",
    "Organization",
    "OutboxEmail",
    "PasswordReset",
    "PhiRecord",
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
    "PrivacyRequest",
    "Program",
    "ProgramVersion",
    "ProviderAttempt",
    "ProviderRoute",
    "Redemption",
    "ReportSnapshot",
    "RetentionPolicy",
    "ReviewCase",
    "Reward",
    "RewardConversion",
    "RewardLink",
    "RewardRule",
    "RewardRuleVersion",
    "Roster",
    "RosterEntry",
    "SanctionsReport",
    "SandboxIssuance",
    "ScreeningResult",
    "StreakState",
    "TaxFormRequest",
    "TaxProfile",
    "TaxRecord",
    "TaxSettings",
    "TaxThreshold",
    "User",
    "UserSession",
    "WebhookAttempt",
    "WebhookMessage",
    "WebhookSubscription",
    "XapiReview",
    "XapiStatement",
]
