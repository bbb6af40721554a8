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
from laurel.privacy.models import ConsentRecord, PhiRecord, PrivacyRequest, RetentionPolicy
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
    "Base",
    "Budget",
    "BudgetReservation",
    "CaliperEvent",
    "CompletionEvent",
    "ConnectorConfig",
    "ConnectorSecret",
    "ConsentRecord",
    "Course",
    "DeadLetter",
    "Delivery",
    "Import",
    "ImportMapping",
    "ImportRejection",
    "Learner",
    "ListEntry",
    "ListVersion",
    "Organization",
    "PhiRecord",
    "PollCursor",
    "PrivacyRequest",
    "Program",
    "ProgramVersion",
    "RetentionPolicy",
    "ReviewCase",
    "Reward",
    "RewardRule",
    "RewardRuleVersion",
    "Roster",
    "RosterEntry",
    "SanctionsReport",
    "SandboxIssuance",
    "ScreeningResult",
    "XapiReview",
    "XapiStatement",
]
