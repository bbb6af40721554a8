"""Which rows of which tables are about a learner: the map behind access exports and erasure.

Every table in the schema is either linked here (its rows about a learner are found through a
column that holds the learner's id, or the id of a row already found), matched by a rule of
its own, or excluded with the reason it holds nothing about a learner. A test walks the whole
schema: a table added later that refers to learners, directly or through another table, fails
it until it is placed here.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, or_, select
from sqlalchemy.orm import Session

from laurel.kit import crypto
from laurel.kit.crypto import KeyRing
from laurel.kit.orm import Base
from laurel.learners import personal, sealing
from laurel.roster import sealed as roster_sealed

WITHHELD = "(withheld: the key that protects the learner's email, name and manager)"
SECRETS_WITHHELD = "(withheld: a one-time sign-in or form link)"


@dataclass(frozen=True, slots=True)
class Link:
    """Rows of ``table`` whose ``column`` holds the id of a row of ``parent`` about the learner."""

    table: str
    column: str
    parent: str
    as_text: bool = False
    """The column holds the id as text (a provider's idempotency key is the reward id)."""


Found = dict[str, list[dict[str, Any]]]
"""Rows about the learner by table, as plain column → value dicts."""
Rule = Callable[[Table, Found, KeyRing], ColumnElement[bool] | None]
"""A condition selecting a table's rows about the learner, given what the links found (and
the ring, for blind-index lookups)."""

LINKS: dict[str, Link] = {}
RULES: dict[str, Rule] = {}
EXCLUDED: dict[str, str] = {}


def link(
    table: str, column: str = "learner_id", parent: str = "learners", *, as_text: bool = False
) -> None:
    LINKS[table] = Link(table, column, parent, as_text)


def rule(table: str, condition: Rule) -> None:
    RULES[table] = condition


def exclude(table: str, reason: str) -> None:
    EXCLUDED[table] = reason


def placed() -> set[str]:
    return {"learners"} | set(LINKS) | set(RULES) | set(EXCLUDED)


def _roster(table: Table, found: Found, ring: KeyRing) -> ColumnElement[bool] | None:
    """Entries naming the learner's employee id, or the learner's email (through the blind
    index both keep of it: the roster's email is sealed)."""
    learner = found["learners"][0]
    keys = [table.c.employee_id == learner["external_id"]]
    if learner.get("email"):
        keys.append(roster_sealed.where_email(table.c.email_index, ring, [learner["email"]]))
    return or_(*keys)


def _xapi(table: Table, found: Found, _ring: KeyRing) -> ColumnElement[bool] | None:
    """Statements that became the learner's completions, and those whose actor names the
    learner but became none (an ``attempted``, a ``launched``)."""
    learner = found["learners"][0]
    events = [uuid.UUID(str(r["id"])) for r in found.get("completion_events", [])]
    named = and_(
        table.c.livemode == learner["livemode"], table.c.learner_key == learner["external_id"]
    )
    return or_(table.c.event_id.in_(events), named) if events else named


def _audit(table: Table, found: Found, _ring: KeyRing) -> ColumnElement[bool] | None:
    """Entries whose target is a row about the learner (the log names ids, not people)."""
    targets = {
        "learners": "learner",
        "rewards": "reward",
        "completion_events": "completion",
        "privacy_requests": "privacy_request",
        "screening_cases": "screening_case",
    }
    conditions = [
        and_(table.c.target_type == kind, table.c.target_id.in_([str(r["id"]) for r in rows]))
        for name, kind in targets.items()
        if (rows := found.get(name))
    ]
    return or_(*conditions) if conditions else None


link("completion_events")
link("rewards")
link("screening_results")
link("screening_cases")
link("sanctions_reports")
link("consent_records")
link("privacy_requests")
link("phi_records")
link("approvals", "reward_id", "rewards")
link("learner_keys")
link("budget_reservations", "reward_id", "rewards")
link("deliveries", "reward_id", "rewards")
link("xapi_reviews", "reward_id", "rewards")
link("sandbox_issuances", "idempotency_key", "rewards", as_text=True)
link("caliper_events", "event_id", "completion_events")
link("enrolments")
link("learning_pairs")  # keyed by learner and course, no id of its own
link("holdout_assignments")
link("email_outbox")
link("reward_links")
link("tax_profiles")
link("tax_form_requests")
link("tax_records")
link("users")
link("user_sessions", "user_id", "users")
link("password_resets", "user_id", "users")
link("reward_conversions", "reward_id", "rewards")
link("provider_attempts", "reward_id", "rewards")
link("webhook_messages", "reward_id", "rewards")
link("webhook_attempts", "message_id", "webhook_messages")
link("inventory_codes", "allocated_to", "rewards", as_text=True)
link("points_accounts")
link("points_transactions")
link("points_entries", "account_id", "points_accounts")
link("points_lots")
link("points_period_totals")
link("points_streaks")
link("points_grants")
link("points_badge_awards")
link("points_preferences")
link("points_expiry_notices")
link("points_redemptions")
link("learner_sign_in_links")
link("learner_sessions")
rule("roster_entries", _roster)
rule("xapi_statements", _xapi)
rule("audit_entries", _audit)

exclude("organizations", "the tenant, not a person")
exclude("budget_windows", "budget totals per period, no person")
exclude("analytics_cohorts", "pair counts per course or attribute, department and month, no person")
exclude("analytics_daily", "completion and reward counts per day, state and department, no person")
exclude("analytics_latency", "delivery counts per millisecond of latency and department, no person")
exclude(
    "analytics_snapshots",
    "stored reports (lift, weekly rates): counts per group, course or attribute, no person",
)
exclude("points_policies", "per-program points policies")
exclude("points_settings", "organization points settings")
exclude("points_badges", "badge definitions")
exclude("points_offers", "marketplace offers")
exclude("catalog_items", "the reward catalogue")
exclude("email_settings", "organization email settings")
exclude("fx_rates", "public exchange rates")
exclude("inventory_stock", "stock levels per denomination")
exclude("link_settings", "per-program link settings")
exclude("oidc_logins", "sign-in attempts in flight (state, nonce), minutes long")
exclude("oidc_providers", "identity provider settings")
exclude("provider_routes", "per-program provider routing")
exclude("tax_settings", "the payer's (organization's) tax settings")
exclude("fcpa_settings", "the organization's FCPA limits")
exclude("tax_thresholds", "reporting thresholds per tax year")
exclude("webhook_subscriptions", "the organization's webhook endpoints")
exclude("api_keys", "machine credentials")
exclude("audit_heads", "one chain tip per organization")
exclude("connector_configs", "LMS connection settings")
exclude("connector_secrets", "LMS webhook secrets")
exclude("courses", "the catalogue")
exclude("programs", "incentive schemes")
exclude("program_versions", "incentive schemes")
exclude("reward_rules", "incentive schemes")
exclude("reward_rule_versions", "incentive schemes")
exclude("budgets", "program totals, no person")
exclude("imports", "file-level import bookkeeping")
exclude("import_mappings", "column mappings")
exclude("rosters", "roster-level bookkeeping (its entries are matched)")
exclude("poll_cursors", "LMS polling positions")
exclude("retention_policies", "organization settings")
exclude("sanctions_list_versions", "OFAC list versions (public data)")
exclude("sanctions_entries", "OFAC list entries (public data)")
exclude(
    "dead_letters",
    "raw payloads that never reached a learner record; deleted by retention after the "
    "personal-data period",
)
exclude(
    "import_rejections",
    "rejected import lines that never reached a learner record; deleted by retention after "
    "the personal-data period",
)


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


def _rows(
    session: Session, table: Table, condition: ColumnElement[bool], ring: KeyRing | None
) -> list[dict[str, Any]]:
    query = select(table).where(condition)
    if "organization_id" in table.c:
        order = table.c.get("created_at", next(iter(table.primary_key.columns)))
        query = query.order_by(order, *table.primary_key.columns)
    rows = [{k: _plain(v) for k, v in row._mapping.items()} for row in session.execute(query)]
    if ring is not None:
        # Encrypted values are the learner's data too: the archive carries them readable.
        sealed = {entry.column: entry for entry in sealing.columns_of(table.name)}
        for name in [c.name for c in table.columns]:
            context = crypto.context_of(table.name, name)
            if context is None:
                continue
            entry = sealed.get(name)
            if entry is sealing.OUTBOX_SECRETS:
                for row in rows:
                    if row.pop(name) is not None:
                        row[entry.clear] = SECRETS_WITHHELD
                continue
            if entry is not None:
                # Shown opened under the column it used to be kept in (rows written before
                # sealing keep theirs); a value whose key was destroyed shows as empty.
                opened = sealing.open_many(session, entry, [r.get(name) for r in rows], ring)
                for row, value in zip(rows, opened, strict=True):
                    if row.pop(name) is not None:
                        row[entry.clear] = _plain(value)
                continue
            for row in rows:
                if row.get(name) is not None:
                    row[name] = ring.decrypt(row[name], context)
    return rows


def collect(
    session: Session,
    organization_id: uuid.UUID,
    learner_id: uuid.UUID,
    ring: KeyRing | None = None,
) -> Found:
    """Every row about one learner, table by table (empty tables left out); with ``ring``,
    registered encrypted columns are decrypted.

    Links are followed from the learner outwards until nothing new is found, then the rules
    run over what was found. Every query is scoped by the organization.
    """
    learners = _table("learners")
    found: Found = {
        "learners": _rows(
            session,
            learners,
            and_(learners.c.organization_id == organization_id, learners.c.id == learner_id),
            ring,
        )
    }
    if not found["learners"]:
        return {}
    # The learner's personal fields, opened with their key (the sealed and indexed forms
    # mean nothing to the reader of an archive).
    found["learners"] = [personal.plain_row(session, row) for row in found["learners"]]
    pending = dict(LINKS)
    while pending:
        ready = [item for item in pending.values() if item.parent not in pending]
        if not ready:
            raise RuntimeError(f"privacy links form a cycle: {sorted(pending)}")
        for item in ready:
            del pending[item.table]
            parents = found.get(item.parent, [])
            if not parents:
                continue
            table = _table(item.table)
            ids: list[Any] = [str(p["id"]) if item.as_text else uuid.UUID(p["id"]) for p in parents]
            rows: list[dict[str, Any]] = []
            for start in range(0, len(ids), 500):
                rows += _rows(
                    session,
                    table,
                    and_(
                        table.c.organization_id == organization_id,
                        table.c[item.column].in_(ids[start : start + 500]),
                    ),
                    ring,
                )
            if rows:
                found[item.table] = rows
    lookups = ring or crypto.ring_of(session)
    for name, condition in RULES.items():
        table = _table(name)
        where = condition(table, found, lookups)
        if where is None:
            continue
        rows = _rows(session, table, and_(table.c.organization_id == organization_id, where), ring)
        if rows:
            found[name] = rows
    for row in found.get("roster_entries", []):
        # Shown opened as ``email`` and ``manager``; the blind index means nothing to a reader.
        row.pop(roster_sealed.INDEX, None)
    for row in found.get("learner_keys", []):
        # That the key exists is about the learner; the key itself is not theirs to carry.
        row["wrapped_key"] = WITHHELD
    return found
