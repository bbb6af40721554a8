"""The one permission table: for every route, who may call it and over which data.

Every route of the API and the pages is a row keyed by ``(METHOD, path template)`` exactly as
the router declares it (``"GET", "/api/v1/rewards/{reward_id}"``). The dependencies in
``laurel.kit.http`` (``Reader``, ``Admin``, ``LiveAdmin``, ``EventWriter``, ``SignedIn``) all
resolve the caller and then ask :func:`authorize` about the route being served: the name of the
dependency a route uses no longer decides anything. ``tests/auth/test_permissions.py`` fails
when a route exists that this table does not mention, and checks every row against real calls.

A row says:

- ``roles``: the user roles allowed (users sign in to the dashboard);
- ``keys``: the API key scopes allowed (a key with ``admin`` passes every row that admits keys);
- ``live``: test-mode keys are refused (shared configuration, the audit trail);
- ``scoped``: the route's service narrows learners and rewards to ``Actor.departments`` /
  ``Actor.learner_id``, so ``department_manager`` and ``learner`` may be granted it (nowhere
  else: the table refuses to load otherwise);
- ``public``: no caller is resolved here (health probes, sign-in, signed webhooks, whose
  handlers authenticate the request themselves).

Adding a route: add one row below, next to its domain's rows.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from laurel.kit.actor import Actor
from laurel.kit.errors import Forbidden


class Role(StrEnum):
    org_admin = "org_admin"
    program_manager = "program_manager"
    department_manager = "department_manager"
    finance = "finance"
    compliance = "compliance"
    auditor = "auditor"
    learner = "learner"


class KeyScope(StrEnum):
    """API key scopes (``laurel.auth.service.Scope`` is the same set)."""

    events_write = "events:write"
    read = "read"
    admin = "admin"


ALL_ROLES = frozenset(Role)
SCOPED_ROLES = frozenset({Role.department_manager, Role.learner})
"""Roles that see only part of the organization: granted only on ``scoped`` routes."""
NOBODY = uuid.UUID(int=0)
"""The learner id a ``learner`` user not linked to any learner sees: no row has it."""

# Role groups the rows below are built from.
ADMIN = frozenset({Role.org_admin})
READERS = frozenset(
    {Role.org_admin, Role.program_manager, Role.finance, Role.compliance, Role.auditor}
)
"""Organization-wide readers; ``auditor`` reads everything and changes nothing."""
PROGRAMS = frozenset({Role.org_admin, Role.program_manager})
FINANCE = frozenset({Role.org_admin, Role.finance})
COMPLIANCE = frozenset({Role.org_admin, Role.compliance})
AUDIT_READERS = frozenset({Role.org_admin, Role.compliance, Role.auditor})


@dataclass(frozen=True, slots=True)
class Rule:
    roles: frozenset[Role] = frozenset()
    keys: frozenset[KeyScope] = frozenset()
    live: bool = False
    scoped: bool = False
    public: bool = False


def public() -> Rule:
    return Rule(public=True)


def read(*extra: Role, scoped: bool = False, roles: Iterable[Role] = READERS) -> Rule:
    """A read: organization readers (and ``extra`` roles); keys with ``read``."""
    return Rule(
        roles=frozenset(roles) | frozenset(extra), keys=frozenset({KeyScope.read}), scoped=scoped
    )


def change(roles: Iterable[Role], *, live: bool = False) -> Rule:
    """A change: the given roles; keys with ``admin``."""
    return Rule(roles=frozenset(roles), keys=frozenset({KeyScope.admin}), live=live)


def admin_read(roles: Iterable[Role]) -> Rule:
    """A read of configuration or sensitive data: the given roles; keys with ``admin`` only."""
    return Rule(roles=frozenset(roles) | {Role.auditor}, keys=frozenset({KeyScope.admin}))


def intake(roles: Iterable[Role] = ()) -> Rule:
    """Sending completions: keys with ``events:write`` (and the given roles)."""
    return Rule(roles=frozenset(roles), keys=frozenset({KeyScope.events_write}))


def lrs_read() -> Rule:
    """xAPI reads: keys with ``read`` or ``events:write`` (an LRS client reads back with the key
    it writes with); no sessions, as for the statements intake."""
    return Rule(keys=frozenset({KeyScope.read, KeyScope.events_write}))


def signed_in() -> Rule:
    """Any signed-in user or any key: routes about the caller's own account only."""
    return Rule(roles=ALL_ROLES, keys=frozenset(KeyScope), scoped=True)


def learner_self() -> Rule:
    """The learner's own pages: the ``learner`` role only, narrowed to that learner."""
    return Rule(roles=frozenset({Role.learner}), scoped=True)


Route = tuple[str, str]

PERMISSIONS: dict[Route, Rule] = {
    # operations and pages
    ("GET", "/"): public(),
    ("GET", "/healthz"): public(),
    ("GET", "/readyz"): public(),
    ("GET", "/metrics"): public(),
    # sign-in, sessions, SSO, users
    ("POST", "/api/v1/auth/sign-in"): public(),
    ("POST", "/api/v1/auth/sign-out"): signed_in(),
    ("GET", "/api/v1/auth/me"): signed_in(),
    ("POST", "/api/v1/auth/password-reset"): public(),
    ("POST", "/api/v1/auth/password-reset/confirm"): public(),
    ("GET", "/auth/oidc/{organization}/start"): public(),
    ("GET", "/auth/oidc/callback"): public(),
    ("GET", "/sign-in"): public(),
    ("POST", "/sign-in"): public(),
    ("POST", "/sign-out"): public(),
    ("GET", "/password-reset"): public(),
    ("POST", "/password-reset"): public(),
    ("GET", "/password-reset/confirm"): public(),
    ("POST", "/password-reset/confirm"): public(),
    ("GET", "/api/v1/users"): admin_read(ADMIN),
    ("POST", "/api/v1/users"): change(ADMIN, live=True),
    ("GET", "/api/v1/users/{user_id}"): admin_read(ADMIN),
    ("PATCH", "/api/v1/users/{user_id}"): change(ADMIN, live=True),
    ("DELETE", "/api/v1/users/{user_id}"): change(ADMIN, live=True),
    ("GET", "/api/v1/auth/oidc"): admin_read(ADMIN),
    ("PUT", "/api/v1/auth/oidc"): change(ADMIN, live=True),
    # API keys
    ("GET", "/api/v1/api-keys"): admin_read(ADMIN),
    ("POST", "/api/v1/api-keys"): change(ADMIN),
    ("DELETE", "/api/v1/api-keys/{key_id}"): change(ADMIN),
    ("POST", "/api/v1/api-keys/{key_id}/rotate"): change(ADMIN),
    # intake
    ("POST", "/api/v1/completions"): intake(),
    ("POST", "/api/v1/completions/batch"): intake(),
    ("GET", "/api/v1/events/{event_id}"): read(),
    ("POST", "/api/v1/webhooks/{connector}"): public(),  # signed with the connector's secret
    ("POST", "/xapi/statements"): intake(),  # the handler resolves Basic or Bearer keys
    ("PUT", "/xapi/statements"): intake(),
    ("GET", "/xapi/statements"): lrs_read(),  # the handler resolves Basic or Bearer keys
    ("GET", "/xapi/about"): public(),
    ("GET", "/api/v1/xapi/reviews"): read(),
    ("GET", "/caliper"): public(),
    ("POST", "/caliper"): intake(),
    ("GET", "/api/v1/connectors"): admin_read(ADMIN),
    ("GET", "/api/v1/connectors/{connector}"): admin_read(ADMIN),
    ("PUT", "/api/v1/connectors/{connector}/mapping"): change(ADMIN, live=True),
    ("POST", "/api/v1/connectors/{connector}/secrets"): change(ADMIN, live=True),
    ("DELETE", "/api/v1/connectors/{connector}/secrets/{secret_id}"): change(ADMIN, live=True),
    ("GET", "/api/v1/dead-letters"): admin_read(PROGRAMS),
    ("GET", "/api/v1/dead-letters/{letter_id}"): admin_read(PROGRAMS),
    ("POST", "/api/v1/dead-letters/{letter_id}/replay"): change(PROGRAMS),
    ("POST", "/api/v1/imports"): intake(PROGRAMS),
    ("GET", "/api/v1/imports"): read(),
    ("GET", "/api/v1/imports/{import_id}"): read(),
    ("GET", "/api/v1/imports/{import_id}/rejections.csv"): read(),
    ("POST", "/api/v1/imports/{import_id}/resume"): intake(PROGRAMS),
    ("GET", "/api/v1/import-mappings"): read(),
    ("GET", "/api/v1/import-mappings/{kind}/{name}"): read(),
    ("PUT", "/api/v1/import-mappings/{kind}/{name}"): change(PROGRAMS, live=True),
    ("DELETE", "/api/v1/import-mappings/{kind}/{name}"): change(PROGRAMS, live=True),
    # rewards: department managers and learners see their part (the service narrows)
    ("GET", "/api/v1/rewards"): read(Role.department_manager, Role.learner, scoped=True),
    ("GET", "/api/v1/rewards/{reward_id}"): read(
        Role.department_manager, Role.learner, scoped=True
    ),
    # approvals: finance decides threshold holds, compliance FCPA holds (the service checks
    # which kind each may decide, and four eyes)
    ("POST", "/api/v1/rewards/{reward_id}/approve"): change(FINANCE | COMPLIANCE),
    ("POST", "/api/v1/rewards/{reward_id}/reject"): change(FINANCE | COMPLIANCE),
    ("GET", "/api/v1/approvals"): read(),
    ("GET", "/api/v1/approvals/rewards/{reward_id}"): read(),
    ("POST", "/api/v1/approvals/approve"): change(FINANCE | COMPLIANCE),
    ("POST", "/api/v1/approvals/reject"): change(FINANCE | COMPLIANCE),
    # FCPA limits: compliance (and org admins) set them; auditors may read them
    ("GET", "/api/v1/fcpa/settings"): admin_read(COMPLIANCE),
    ("PATCH", "/api/v1/fcpa/settings"): change(COMPLIANCE, live=True),
    # budgets: shared by both modes, so live keys change them
    ("GET", "/api/v1/budgets"): read(),
    ("GET", "/api/v1/budgets/{budget_id}"): read(),
    ("POST", "/api/v1/budgets"): change(FINANCE, live=True),
    ("PATCH", "/api/v1/budgets/{budget_id}"): change(FINANCE, live=True),
    ("DELETE", "/api/v1/budgets/{budget_id}"): change(FINANCE, live=True),
    # exchange rates are shared reference data; the fee is the organization's
    ("GET", "/api/v1/fx/rates"): read(),
    ("POST", "/api/v1/fx/rates"): change(FINANCE, live=True),
    ("GET", "/api/v1/fx/convert"): read(),
    ("GET", "/api/v1/fx/fee"): read(),
    ("PUT", "/api/v1/fx/fee"): change(FINANCE),
    # gift-code inventory (pre-bought money: finance) and provider routing (programs)
    ("POST", "/api/v1/inventory/codes"): change(FINANCE, live=True),
    ("GET", "/api/v1/inventory/stock"): read(),
    ("PUT", "/api/v1/inventory/thresholds"): change(FINANCE, live=True),
    ("GET", "/api/v1/programs/{program_id}/provider-routes"): read(),
    ("PUT", "/api/v1/programs/{program_id}/provider-routes"): change(PROGRAMS, live=True),
    # the reward catalog (what learners may choose) and reward links
    ("GET", "/api/v1/catalog/items"): read(),
    ("GET", "/api/v1/catalog/items/{item_id}"): read(),
    ("POST", "/api/v1/catalog/items"): change(FINANCE | PROGRAMS, live=True),
    ("PATCH", "/api/v1/catalog/items/{item_id}"): change(FINANCE | PROGRAMS, live=True),
    ("POST", "/api/v1/catalog/items/{item_id}/deactivate"): change(FINANCE | PROGRAMS, live=True),
    ("POST", "/api/v1/catalog/sync"): change(FINANCE | PROGRAMS, live=True),
    ("GET", "/api/v1/rewards/{reward_id}/choices"): read(),
    # a link's URL pays out: only those who may reissue it see it
    ("GET", "/api/v1/rewards/{reward_id}/link"): change(FINANCE | PROGRAMS),
    ("POST", "/api/v1/rewards/{reward_id}/link/reissue"): change(FINANCE | PROGRAMS),
    ("GET", "/api/v1/programs/{program_id}/link-settings"): read(),
    ("PUT", "/api/v1/programs/{program_id}/link-settings"): change(PROGRAMS, live=True),
    ("GET", "/r/{token}"): public(),  # the token is the credential
    ("POST", "/r/{token}"): public(),
    # tax: finance owns settings, forms and the year-end files; auditors may read them
    ("GET", "/api/v1/tax/settings"): admin_read(FINANCE),
    ("PATCH", "/api/v1/tax/settings"): change(FINANCE, live=True),
    ("GET", "/api/v1/tax/thresholds"): read(),
    ("PUT", "/api/v1/tax/thresholds/{tax_year}"): change(FINANCE, live=True),
    ("DELETE", "/api/v1/tax/thresholds/{tax_year}"): change(FINANCE, live=True),
    ("GET", "/api/v1/tax/learners/{learner_id}/form"): admin_read(FINANCE),
    ("PUT", "/api/v1/tax/learners/{learner_id}/form"): change(FINANCE),
    ("PUT", "/api/v1/tax/learners/{learner_id}/form/second-tin-notice"): change(FINANCE, live=True),
    ("POST", "/api/v1/tax/learners/{learner_id}/form-requests"): change(FINANCE),
    ("GET", "/api/v1/tax/learners/{learner_id}/form-requests"): Rule(
        roles=FINANCE | {Role.auditor, Role.learner}, keys=frozenset({KeyScope.admin}), scoped=True
    ),
    ("GET", "/api/v1/tax/rewards/{reward_id}"): read(),
    ("GET", "/api/v1/tax/totals"): admin_read(FINANCE),
    ("GET", "/api/v1/tax/exports/totals"): change(FINANCE, live=True),
    ("GET", "/api/v1/tax/exports/iris"): change(FINANCE, live=True),
    ("GET", "/api/v1/tax/exports/fire"): change(FINANCE, live=True),
    ("GET", "/api/v1/tax/exports/payroll"): change(FINANCE, live=True),
    ("GET", "/api/v1/tax/exports/1042s"): change(FINANCE, live=True),
    ("GET", "/tax/forms/{token}"): public(),  # the token is the credential
    ("POST", "/tax/forms/{token}"): public(),
    # email and outgoing webhooks: configuration is the admin's; the logs are readable
    ("GET", "/api/v1/notifications/email-settings"): admin_read(PROGRAMS),
    ("PATCH", "/api/v1/notifications/email-settings"): change(ADMIN, live=True),
    ("GET", "/api/v1/notifications/emails"): admin_read(PROGRAMS),
    ("GET", "/api/v1/notifications/emails/{email_id}"): admin_read(PROGRAMS),
    ("POST", "/api/v1/notifications/emails/{email_id}/resend"): change(PROGRAMS),
    ("POST", "/api/v1/outgoing-webhooks/subscriptions"): change(ADMIN),
    ("GET", "/api/v1/outgoing-webhooks/subscriptions"): admin_read(ADMIN),
    ("GET", "/api/v1/outgoing-webhooks/subscriptions/{subscription_id}"): admin_read(ADMIN),
    ("PATCH", "/api/v1/outgoing-webhooks/subscriptions/{subscription_id}"): change(ADMIN),
    ("DELETE", "/api/v1/outgoing-webhooks/subscriptions/{subscription_id}"): change(ADMIN),
    ("GET", "/api/v1/outgoing-webhooks/subscriptions/{subscription_id}/messages"): admin_read(
        ADMIN
    ),
    ("GET", "/api/v1/outgoing-webhooks/messages/{message_id}"): admin_read(ADMIN),
    ("POST", "/api/v1/outgoing-webhooks/messages/{message_id}/redeliver"): change(ADMIN),
    # the audit trail and its signed head; privacy requests, consents, PHI and retention
    ("GET", "/api/v1/audit/export"): Rule(
        roles=AUDIT_READERS, keys=frozenset({KeyScope.admin}), live=True
    ),
    ("POST", "/api/v1/audit/head"): Rule(
        roles=AUDIT_READERS, keys=frozenset({KeyScope.admin}), live=True
    ),
    ("POST", "/api/v1/audit/head/verify"): Rule(
        roles=AUDIT_READERS, keys=frozenset({KeyScope.admin}), live=True
    ),
    ("GET", "/api/v1/privacy/requests"): admin_read(COMPLIANCE),
    ("POST", "/api/v1/privacy/requests"): change(COMPLIANCE, live=True),
    ("GET", "/api/v1/privacy/requests/{request_id}"): admin_read(COMPLIANCE),
    ("GET", "/api/v1/privacy/requests/{request_id}/archive"): change(COMPLIANCE, live=True),
    ("POST", "/api/v1/privacy/requests/{request_id}/fulfil"): change(COMPLIANCE, live=True),
    ("POST", "/api/v1/privacy/requests/{request_id}/refuse"): change(COMPLIANCE, live=True),
    ("GET", "/api/v1/privacy/learners/{learner_id}"): admin_read(COMPLIANCE),
    ("POST", "/api/v1/privacy/learners/{learner_id}/consents"): change(COMPLIANCE, live=True),
    ("GET", "/api/v1/privacy/learners/{learner_id}/phi"): change(COMPLIANCE, live=True),
    ("PUT", "/api/v1/privacy/learners/{learner_id}/phi"): change(COMPLIANCE, live=True),
    ("GET", "/api/v1/privacy/retention"): admin_read(COMPLIANCE),
    ("PUT", "/api/v1/privacy/retention"): change(COMPLIANCE, live=True),
    ("POST", "/api/v1/privacy/retention/run"): change(COMPLIANCE, live=True),
    # points: readers see wallets, boards and badges organization-wide, a signed-in learner
    # their own; programs run the scheme, finance reverses and reconciles
    ("GET", "/api/v1/points/learners/{learner_id}/wallet"): read(Role.learner, scoped=True),
    ("GET", "/api/v1/points/learners/{learner_id}/transactions"): read(Role.learner, scoped=True),
    ("GET", "/api/v1/points/learners/{learner_id}/badges"): read(Role.learner, scoped=True),
    ("PUT", "/api/v1/points/learners/{learner_id}/preferences"): change(PROGRAMS),
    ("GET", "/api/v1/points/awards/{award_id}/credential"): read(),
    ("GET", "/api/v1/points/issuers/{organization_id}/jwks"): public(),  # public keys
    ("GET", "/api/v1/points/badges"): read(),
    ("POST", "/api/v1/points/badges"): change(PROGRAMS, live=True),
    ("POST", "/api/v1/points/badges/evaluate"): change(PROGRAMS),
    ("GET", "/api/v1/points/leaderboards"): read(),
    ("GET", "/api/v1/points/grants"): read(),
    ("POST", "/api/v1/points/grants"): change(PROGRAMS),
    ("POST", "/api/v1/points/grants/{grant_id}/approve"): change(PROGRAMS | FINANCE),
    ("POST", "/api/v1/points/grants/{grant_id}/reject"): change(PROGRAMS | FINANCE),
    ("GET", "/api/v1/points/offers"): read(),
    ("POST", "/api/v1/points/offers"): change(PROGRAMS, live=True),
    ("POST", "/api/v1/points/redemptions"): change(PROGRAMS),
    ("GET", "/api/v1/points/redemptions/{redemption_id}"): read(),
    ("POST", "/api/v1/points/transactions/{transaction_id}/reverse"): change(FINANCE | PROGRAMS),
    ("GET", "/api/v1/points/programs/{program_id}/policy"): read(),
    ("PUT", "/api/v1/points/programs/{program_id}/policy"): change(PROGRAMS, live=True),
    ("GET", "/api/v1/points/settings"): read(),
    ("PATCH", "/api/v1/points/settings"): change(PROGRAMS, live=True),
    ("POST", "/api/v1/points/expiry/run"): change(PROGRAMS),
    ("GET", "/api/v1/points/reconcile"): admin_read(FINANCE),
    # the learner's own pages (laurel.portal sign-in): that learner's data, nobody else's
    ("GET", "/points/wallet"): learner_self(),
    ("GET", "/points/history"): learner_self(),
    ("GET", "/points/badges"): learner_self(),
    ("GET", "/points/leaderboard"): learner_self(),
    ("GET", "/points/marketplace"): learner_self(),
    ("POST", "/points/marketplace/redeem"): learner_self(),
    ("GET", "/points/redemptions/{redemption_id}"): learner_self(),
    # learner sign-in: an emailed single-use link (the token is the credential)
    ("GET", "/portal/sign-in"): public(),
    ("POST", "/portal/sign-in"): public(),
    ("GET", "/portal/{organization}/sign-in"): public(),
    ("POST", "/portal/{organization}/sign-in"): public(),
    ("GET", "/portal/link/{token}"): public(),
    ("POST", "/portal/link/{token}"): public(),
    ("GET", "/portal/{organization}/sso"): public(),  # to the identity provider, if any
    ("POST", "/portal/sign-out"): public(),  # checks the learner session's CSRF token itself
    # enrolments and analytics (a department manager's reports count only their departments)
    ("POST", "/api/v1/enrolments"): intake(PROGRAMS),
    ("GET", "/api/v1/analytics/completion-rates"): read(Role.department_manager, scoped=True),
    ("GET", "/api/v1/analytics/overview"): read(Role.department_manager, scoped=True),
    ("GET", "/api/v1/analytics/programs/{program_id}/lift"): read(
        Role.department_manager, scoped=True
    ),
    ("POST", "/api/v1/rewards/{reward_id}/cancel"): change(FINANCE | PROGRAMS),
    ("POST", "/api/v1/rewards/{reward_id}/recheck"): change(FINANCE | PROGRAMS | COMPLIANCE),
    ("POST", "/api/v1/rewards/{reward_id}/retry"): change(FINANCE | PROGRAMS),
    # programs and rules: shared by both modes, so live keys change them
    ("GET", "/api/v1/program-templates"): read(),
    ("GET", "/api/v1/programs"): read(),
    ("POST", "/api/v1/programs"): change(PROGRAMS, live=True),
    ("GET", "/api/v1/programs/{program_id}"): read(),
    ("PATCH", "/api/v1/programs/{program_id}"): change(PROGRAMS, live=True),
    ("DELETE", "/api/v1/programs/{program_id}"): change(PROGRAMS, live=True),
    ("GET", "/api/v1/programs/{program_id}/versions"): read(),
    ("GET", "/api/v1/programs/{program_id}/rules"): read(),
    ("POST", "/api/v1/programs/{program_id}/rules"): change(PROGRAMS, live=True),
    ("GET", "/api/v1/rules/{rule_id}"): read(),
    ("PATCH", "/api/v1/rules/{rule_id}"): change(PROGRAMS, live=True),
    ("DELETE", "/api/v1/rules/{rule_id}"): change(PROGRAMS, live=True),
    ("GET", "/api/v1/rules/{rule_id}/versions"): read(),
    # learners and courses
    ("GET", "/api/v1/learners"): read(Role.department_manager, Role.learner, scoped=True),
    ("POST", "/api/v1/learners"): change(PROGRAMS),
    ("GET", "/api/v1/learners/{learner_id}"): read(
        Role.department_manager, Role.learner, scoped=True
    ),
    ("PATCH", "/api/v1/learners/{learner_id}"): change(PROGRAMS),
    ("DELETE", "/api/v1/learners/{learner_id}"): change(PROGRAMS),
    ("GET", "/api/v1/courses"): read(),
    ("POST", "/api/v1/courses"): change(PROGRAMS),
    ("GET", "/api/v1/courses/{course_id}"): read(),
    ("PATCH", "/api/v1/courses/{course_id}"): change(PROGRAMS),
    ("DELETE", "/api/v1/courses/{course_id}"): change(PROGRAMS),
    # screening and audit
    ("POST", "/api/v1/screening/check"): change(COMPLIANCE),
    ("GET", "/api/v1/screening/lists"): admin_read(COMPLIANCE),
    ("POST", "/api/v1/screening/lists"): change(COMPLIANCE, live=True),
    ("GET", "/api/v1/screening/cases"): admin_read(COMPLIANCE),
    ("GET", "/api/v1/screening/cases/{case_id}"): admin_read(COMPLIANCE),
    ("POST", "/api/v1/screening/cases/{case_id}/clear"): change(COMPLIANCE),
    ("POST", "/api/v1/screening/cases/{case_id}/confirm"): change(COMPLIANCE),
    ("POST", "/api/v1/screening/learners/{learner_id}/unblock"): change(COMPLIANCE),
    ("GET", "/api/v1/audit"): Rule(
        roles=AUDIT_READERS, keys=frozenset({KeyScope.admin}), live=True
    ),
    ("POST", "/api/v1/audit/verify"): Rule(
        roles=AUDIT_READERS, keys=frozenset({KeyScope.admin}), live=True
    ),
    # dashboard pages (laurel.dashboard): the same narrowing as the API behind them
    ("GET", "/dashboard"): signed_in(),
    ("GET", "/dashboard/overview"): read(Role.department_manager, scoped=True),
    ("GET", "/dashboard/overview/numbers"): read(Role.department_manager, scoped=True),
    ("GET", "/dashboard/overview/rates"): read(Role.department_manager, scoped=True),
    ("GET", "/dashboard/rewards"): read(Role.department_manager, Role.learner, scoped=True),
    ("GET", "/dashboard/rewards/{reward_id}"): read(
        Role.department_manager, Role.learner, scoped=True
    ),
    ("GET", "/dashboard/held"): read(),
    ("POST", "/dashboard/rewards/{reward_id}/approve"): change(FINANCE | COMPLIANCE),
    ("POST", "/dashboard/rewards/{reward_id}/reject"): change(FINANCE | COMPLIANCE),
    ("GET", "/dashboard/finance"): read(roles=FINANCE | {Role.auditor}),
    ("GET", "/dashboard/finance/spend"): read(roles=FINANCE | {Role.auditor}),
    ("GET", "/dashboard/compliance"): admin_read(COMPLIANCE),
    ("GET", "/dashboard/compliance/audit/verify"): Rule(
        roles=AUDIT_READERS, keys=frozenset({KeyScope.admin}), live=True
    ),
    ("POST", "/dashboard/compliance/cases/{case_id}/clear"): change(COMPLIANCE),
    ("POST", "/dashboard/compliance/cases/{case_id}/confirm"): change(COMPLIANCE),
    ("GET", "/dashboard/team"): read(Role.department_manager, scoped=True),
    ("GET", "/dashboard/team/rates"): read(Role.department_manager, scoped=True),
    ("GET", "/dashboard/team/{learner_id}"): read(Role.department_manager, scoped=True),
    ("GET", "/dashboard/programs"): read(),
    ("GET", "/dashboard/programs/preview"): read(),  # a dry run: rehearsed, rolled back
    ("GET", "/dashboard/programs/new"): change(PROGRAMS, live=True),
    ("POST", "/dashboard/programs"): change(PROGRAMS, live=True),
    ("GET", "/dashboard/programs/{program_id}"): read(),
    ("POST", "/dashboard/programs/{program_id}"): change(PROGRAMS, live=True),
    ("POST", "/dashboard/programs/{program_id}/routes"): change(PROGRAMS, live=True),
    ("GET", "/dashboard/programs/{program_id}/rules/new"): change(PROGRAMS, live=True),
    ("POST", "/dashboard/programs/{program_id}/rules"): change(PROGRAMS, live=True),
    ("GET", "/dashboard/rules/{rule_id}"): read(),
    ("POST", "/dashboard/rules/{rule_id}"): change(PROGRAMS, live=True),
    ("GET", "/dashboard/me"): signed_in(),  # the caller's own learner record only
    # user management and API keys: the organization's administrators only
    ("GET", "/dashboard/users"): change(ADMIN, live=True),
    ("POST", "/dashboard/users"): change(ADMIN, live=True),
    ("POST", "/dashboard/users/{user_id}"): change(ADMIN, live=True),
    ("POST", "/dashboard/users/{user_id}/deactivate"): change(ADMIN, live=True),
    ("POST", "/dashboard/users/{user_id}/reactivate"): change(ADMIN, live=True),
    ("POST", "/dashboard/users/{user_id}/password-link"): change(ADMIN, live=True),
    ("GET", "/dashboard/api-keys"): change(ADMIN, live=True),
    ("POST", "/dashboard/api-keys"): change(ADMIN, live=True),
    ("POST", "/dashboard/api-keys/{key_id}/rotate"): change(ADMIN, live=True),
    ("POST", "/dashboard/api-keys/{key_id}/revoke"): change(ADMIN, live=True),
}


def check_table(table: dict[Route, Rule]) -> None:
    for (method, path), rule in table.items():
        if method not in {"GET", "POST", "PUT", "PATCH", "DELETE"} or not path.startswith("/"):
            raise ValueError(f"bad permission row {method} {path}")
        if rule.roles & SCOPED_ROLES and not rule.scoped:
            raise ValueError(
                f"{method} {path}: department_manager and learner need a scoped route "
                "(its service must narrow by Actor.departments / Actor.learner_id)"
            )


check_table(PERMISSIONS)


def is_user(actor: Actor) -> bool:
    """A person with roles: a dashboard user or a signed-in learner (``laurel.portal``)."""
    return actor.name.startswith(("user:", "learner:"))


def rule_for(method: str, path: str) -> Rule | None:
    return PERMISSIONS.get(("GET" if method == "HEAD" else method, path))


def authorize(caller: Actor, rule: Rule) -> Actor:
    """The actor the route acts as: ``caller`` allowed by ``rule``, narrowed to its data.

    Refusals are 403 with what would be needed. Data a caller may not see is not refused here
    but filtered by the services (404 for ids out of scope), so existence never leaks.
    """
    if rule.public:
        return caller
    if is_user(caller):
        granting = {Role(r) for r in caller.roles if r in ALL_ROLES} & rule.roles
        if not granting:
            mine = ", ".join(sorted(caller.roles)) or "none"
            allowed = ", ".join(sorted(rule.roles)) or "API keys only"
            raise Forbidden(f"your roles ({mine}) may not do this; allowed: {allowed}")
        if granting - SCOPED_ROLES:
            return dataclasses.replace(caller, departments=None, learner_id=None)
        if Role.department_manager in granting:
            return dataclasses.replace(
                caller, departments=caller.departments or frozenset(), learner_id=None
            )
        return dataclasses.replace(caller, departments=None, learner_id=caller.learner_id or NOBODY)
    # A key may stand for a business role (``role:finance`` scope): it passes the rows that
    # role passes, as a signed-in user with that role would (never the scoped roles).
    named = {s.removeprefix("role:") for s in caller.scopes if s.startswith("role:")}
    key_roles = {Role(r) for r in named if r in ALL_ROLES} - SCOPED_ROLES
    if key_roles & rule.roles:
        if rule.live and not caller.livemode:
            raise Forbidden("test-mode keys cannot do this; use a live key")
        return dataclasses.replace(caller, departments=None, learner_id=None)
    if not rule.keys:
        raise Forbidden("API keys cannot do this; sign in as a user with the right role")
    if KeyScope.admin not in caller.scopes and not (rule.keys & caller.scopes):
        needed = " or ".join(sorted(rule.keys | {KeyScope.admin}))
        raise Forbidden(f"this key lacks the {needed} scope")
    if rule.live and not caller.livemode:
        raise Forbidden(
            "test-mode keys cannot change shared configuration or read the audit trail; "
            "use a live admin key"
        )
    return dataclasses.replace(caller, departments=None, learner_id=None)


def can(caller: Actor, method: str, path: str) -> bool:
    """Whether the table lets ``caller`` use a route (for pages that show only what works)."""
    rule = rule_for(method, path)
    if rule is None:
        return False
    try:
        authorize(caller, rule)
    except Forbidden:
        return False
    return True


def role_scopes(roles: Iterable[str]) -> frozenset[str]:
    """The key scopes a user's roles amount to, for services that still check a scope
    (``auth.require``): an org admin is ``admin``, a program manager may send events."""
    held = set(roles)
    if Role.org_admin in held:
        return frozenset({KeyScope.admin})
    scopes = {KeyScope.read}
    if Role.program_manager in held:
        scopes.add(KeyScope.events_write)
    return frozenset(scopes)
