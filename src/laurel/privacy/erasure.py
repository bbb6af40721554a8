"""Erasure: what can go is deleted, what the law makes us keep is pseudonymised and dated.

A learner's row stays, stripped of everything that identifies them (their id is what tax and
payment records, and the audit log, refer to). Completion events and LMS statements stay too,
with their payloads replaced: their source ids are what makes a replayed LMS event a
duplicate instead of a second payment. Financial records (rewards, deliveries, approvals,
budget reservations, sanctions screening) are kept until their retention period ends, then
:func:`delete_financial` removes them.

Other domains that hold personal data about a learner (tax profiles, for one) register an
:data:`Eraser` with :func:`register` and report what they did and what they kept.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Table, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.kit import crypto
from laurel.kit.ids import uuid7
from laurel.kit.orm import Base
from laurel.learners import personal
from laurel.learners.models import Learner
from laurel.privacy.models import DataKind
from laurel.rewards.models import Reward
from laurel.roster import sealed as roster_sealed

ERASED = {"erased": True}


@dataclass(frozen=True, slots=True)
class Kept:
    """Records kept after an erasure, with the reason and the last day they are kept."""

    records: list[str]
    reason: str
    until: date | None


@dataclass(frozen=True, slots=True)
class Erased:
    deleted: dict[str, int]
    pseudonymised: dict[str, int]
    kept: list[Kept]

    def as_outcome(self) -> dict[str, Any]:
        return {
            "deleted": self.deleted,
            "pseudonymised": self.pseudonymised,
            "kept": [
                asdict(k) | {"until": k.until.isoformat() if k.until else None} for k in self.kept
            ],
        }


Eraser = Callable[[Session, uuid.UUID, uuid.UUID, datetime], Erased]
"""``(session, organization_id, learner_id, now)``: erase this domain's data about a learner."""
_ERASERS: list[Eraser] = []


def register(eraser: Eraser) -> None:
    if eraser not in _ERASERS:
        _ERASERS.append(eraser)


def _t(name: str) -> Table:
    return Base.metadata.tables[name]


def _count(result: Any) -> int:
    return int(result.rowcount or 0)


def latest_tax_year(
    session: Session, organization_id: uuid.UUID, learner_id: uuid.UUID
) -> int | None:
    latest = session.scalar(
        select(func.max(func.coalesce(Reward.delivered_at, Reward.created_at))).where(
            Reward.organization_id == organization_id, Reward.learner_id == learner_id
        )
    )
    if latest is None:
        return None
    when = latest if isinstance(latest, datetime) else datetime.fromisoformat(str(latest))
    return when.astimezone(UTC).year if when.tzinfo else when.year


def erase(
    session: Session,
    organization_id: uuid.UUID,
    learner_id: uuid.UUID,
    *,
    actor: str,
    now: datetime,
    reason: str,
) -> Erased:
    """Erase or pseudonymise everything about one learner; answers what was done and kept.

    Idempotent: erasing an erased learner changes nothing more.
    """
    from laurel.privacy import retention  # noqa: PLC0415 - retention calls this module
    from laurel.privacy.jurisdiction import jurisdiction  # noqa: PLC0415

    org, who = organization_id, learner_id
    learners = _t("learners")
    learner = session.execute(
        select(
            learners.c.external_id, learners.c.email_sealed, learners.c.country, learners.c.region
        ).where(learners.c.organization_id == org, learners.c.id == who)
    ).one()
    email = next(personal.open_rows(session, [(who, {"email": learner.email_sealed})]))["email"]
    deleted: dict[str, int] = {}
    pseudonymised: dict[str, int] = {}

    roster = _t("roster_entries")
    keys = [roster.c.employee_id == learner.external_id]
    if email:
        keys.append(
            roster_sealed.where_email(roster.c.email_index, crypto.ring_of(session), [email])
        )
    deleted["roster_entries"] = _count(
        session.execute(delete(roster).where(roster.c.organization_id == org, or_(*keys)))
    )
    consent = _t("consent_records")
    deleted["consent_records"] = _count(
        session.execute(
            delete(consent).where(consent.c.organization_id == org, consent.c.learner_id == who)
        )
    )
    phi = _t("phi_records")
    deleted["phi_records"] = _count(
        session.execute(delete(phi).where(phi.c.organization_id == org, phi.c.learner_id == who))
    )
    events = _t("completion_events")
    event_ids = select(events.c.id).where(
        events.c.organization_id == org, events.c.learner_id == who
    )
    pseudonymised["completion_events"] = _count(
        session.execute(
            update(events)
            .where(events.c.organization_id == org, events.c.learner_id == who)
            .values(payload=ERASED, payload_sealed=None)
        )
    )
    xapi = _t("xapi_statements")
    # Statements that became no completion name the learner by external id only; they were
    # sealed under the ring, not the learner's key, so they are emptied here too.
    pseudonymised["xapi_statements"] = _count(
        session.execute(
            update(xapi)
            .where(
                xapi.c.organization_id == org,
                or_(xapi.c.event_id.in_(event_ids), xapi.c.learner_key == learner.external_id),
            )
            .values(
                statement=ERASED, statement_sealed=None, attachments_sealed=None, learner_key=None
            )
        )
    )
    caliper = _t("caliper_events")
    pseudonymised["caliper_events"] = _count(
        session.execute(
            update(caliper)
            .where(caliper.c.organization_id == org, caliper.c.event_id.in_(event_ids))
            .values(event=ERASED, event_sealed=None)
        )
    )
    pseudonymised["learners"] = _count(
        session.execute(
            update(learners)
            .where(
                learners.c.organization_id == org,
                learners.c.id == who,
                learners.c.pseudonymised_at.is_(None),
            )
            .values(
                external_id=f"erased-{who}",
                department=None,
                region=None,
                locale=None,
                pseudonymised_at=now,
                updated_at=now,
            )
        )
    )
    _erase_points(session, org, who, now, deleted)
    _erase_sealed(session, org, who, pseudonymised)
    # Crypto-shredding: the sealed email, name and manager stay as they are, unreadable for
    # good once their key is gone (so are the copies in every backup taken before).
    deleted["learner_keys"] = personal.forget(session, org, who)
    # Loaded copies in this session must not write the old values back.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Learner) and obj.id == who:
            session.expire(obj)

    kept: list[Kept] = []
    year = latest_tax_year(session, org, who)
    if year is not None:
        table = retention.policies(session, org)
        days = retention.period(
            table, jurisdiction(learner.country, learner.region), DataKind.financial
        )
        kept.append(
            Kept(
                records=[
                    "rewards",
                    "deliveries",
                    "approvals",
                    "budget_reservations",
                    "screening_results",
                    "screening_cases",
                    "sanctions_reports",
                ],
                reason=(
                    "payments and the checks made before them are tax and accounting records "
                    "(US: IRS record retention for information returns; EU: national tax and "
                    "bookkeeping codes, GDPR art. 17(3)(b)) and sanctions-compliance records "
                    "(31 CFR 501.601); they keep the learner's internal id, amount, currency, "
                    "dates and country, and the screened name, and are deleted when the "
                    "period ends"
                ),
                until=retention.financial_until(year, days),
            )
        )
    points_year = _latest_points_year(session, org, who)
    if points_year is not None:
        table = retention.policies(session, org)
        days = retention.period(
            table, jurisdiction(learner.country, learner.region), DataKind.financial
        )
        kept.append(
            Kept(
                records=list(POINTS_LEDGER),
                reason=(
                    "the points ledger is a financial record: every wallet and program balance "
                    "is the sum of its entries, which are never changed or deleted, and "
                    "redeemed points became payments; the entries refer to the learner by "
                    "internal id only (no name, email or external id) and stay as they are, so "
                    "the books still balance; the wallet keeps its balance"
                ),
                until=retention.financial_until(max(points_year, year or points_year), days),
            )
        )
    kept.append(
        Kept(
            records=["learners"],
            reason="the learner's row stays under its internal id (payments and the audit log "
            "refer to it) with country and classification; its email, name and manager stay "
            "only as ciphertext whose key was destroyed (learner_keys), so neither Laurel nor "
            "anyone holding a backup can read them again",
            until=None,
        )
    )
    kept.append(
        Kept(
            records=["audit_entries"],
            reason="the tamper-evident audit log cannot be changed; its entries refer to the "
            "learner by internal id only",
            until=None,
        )
    )
    result = Erased(deleted, pseudonymised, kept)
    for eraser in _ERASERS:
        extra = eraser(session, org, who, now)
        result = Erased(
            {**result.deleted, **extra.deleted},
            {**result.pseudonymised, **extra.pseudonymised},
            [*result.kept, *extra.kept],
        )
    audit.record(
        session,
        organization_id=org,
        actor=actor,
        action="privacy:learner:erase",
        target_type="learner",
        target_id=who,
        details={
            "reason": reason,
            "deleted": result.deleted,
            "pseudonymised": result.pseudonymised,
        },
    )
    return result


def _erase_sealed(
    session: Session, org: uuid.UUID, who: uuid.UUID, pseudonymised: dict[str, int]
) -> None:
    # Sealed under the learner's key, so unreadable once it is destroyed below; emptied as
    # well, so nothing depends on the key alone.
    forms = _t("tax_form_requests")
    pseudonymised["tax_form_requests"] = _count(
        session.execute(
            update(forms)
            .where(forms.c.organization_id == org, forms.c.learner_id == who)
            .values(recipient_email=None, recipient_email_sealed=None)
        )
    )
    outbox = _t("email_outbox")
    pseudonymised["email_outbox"] = _count(
        session.execute(
            update(outbox)
            .where(outbox.c.organization_id == org, outbox.c.learner_id == who)
            .values(
                recipient=None,
                recipient_sealed=None,
                context={},
                context_sealed=None,
                secrets_sealed=None,
            )
        )
    )


POINTS_LEDGER = (
    "points_accounts",
    "points_transactions",
    "points_entries",
    "points_lots",
    "points_period_totals",
    "points_grants",
    "points_redemptions",
)
"""Kept as they are by an erasure: the double-entry books (and the lots and totals kept in
step with them) must still add up."""


def _erase_points(
    session: Session, org: uuid.UUID, who: uuid.UUID, now: datetime, deleted: dict[str, int]
) -> None:
    """The learner's points data that is not bookkeeping: sign-in links and sessions, badge
    awards, streak state and pending expiry notices go; the learner leaves leaderboards."""
    for name in (
        "learner_sign_in_links",
        "learner_sessions",
        "points_badge_awards",
        "points_streaks",
        "points_expiry_notices",
    ):
        table = _t(name)
        deleted[name] = _count(
            session.execute(
                delete(table).where(table.c.organization_id == org, table.c.learner_id == who)
            )
        )
    prefs = _t("points_preferences")
    changed = _count(
        session.execute(
            update(prefs)
            .where(prefs.c.organization_id == org, prefs.c.learner_id == who)
            .values(leaderboard_opt_out=True, show_name=None, updated_at=now)
        )
    )
    modes = session.execute(
        select(_t("learners").c.livemode).where(_t("learners").c.id == who)
    ).scalar_one()
    if not changed:
        session.execute(
            insert(prefs).values(
                id=uuid7(),
                organization_id=org,
                livemode=modes,
                learner_id=who,
                leaderboard_opt_out=True,
                show_name=None,
                created_at=now,
                updated_at=now,
            )
        )


def _latest_points_year(session: Session, org: uuid.UUID, who: uuid.UUID) -> int | None:
    transactions = _t("points_transactions")
    latest = session.scalar(
        select(func.max(transactions.c.created_at)).where(
            transactions.c.organization_id == org, transactions.c.learner_id == who
        )
    )
    if latest is None:
        return None
    when = latest if isinstance(latest, datetime) else datetime.fromisoformat(str(latest))
    return when.astimezone(UTC).year if when.tzinfo else when.year


# Children first: each table's rows point at rows deleted after it.
_FINANCIAL = (
    ("deliveries", "reward_id"),
    ("reward_conversions", "reward_id"),
    ("reward_links", "reward_id"),
    ("provider_attempts", "reward_id"),
    ("email_outbox", "reward_id"),
    ("tax_records", "reward_id"),
    ("approvals", "reward_id"),
    ("budget_reservations", "reward_id"),
    ("xapi_reviews", "reward_id"),
    ("sanctions_reports", "reward_id"),
    ("screening_cases", "reward_id"),
    ("screening_results", "reward_id"),
)


def delete_financial(
    session: Session, organization_id: uuid.UUID, learner_id: uuid.UUID, *, actor: str
) -> dict[str, int]:
    """Delete a pseudonymised learner's financial records once their period has ended."""
    org, who = organization_id, learner_id
    rewards = _t("rewards")
    reward_ids = select(rewards.c.id).where(
        rewards.c.organization_id == org, rewards.c.learner_id == who
    )
    deleted: dict[str, int] = {}
    messages, attempts = _t("webhook_messages"), _t("webhook_attempts")
    theirs = select(messages.c.id).where(
        messages.c.organization_id == org, messages.c.reward_id.in_(reward_ids)
    )
    deleted["webhook_attempts"] = _count(
        session.execute(delete(attempts).where(attempts.c.message_id.in_(theirs)))
    )
    deleted["webhook_messages"] = _count(
        session.execute(delete(messages).where(messages.c.id.in_(theirs)))
    )
    for name, column in _FINANCIAL:
        table = _t(name)
        deleted[name] = _count(
            session.execute(
                delete(table).where(table.c.organization_id == org, table.c[column].in_(reward_ids))
            )
        )
    for name in ("sanctions_reports", "screening_cases", "screening_results"):
        table = _t(name)
        deleted[name] += _count(
            session.execute(
                delete(table).where(table.c.organization_id == org, table.c.learner_id == who)
            )
        )
    deleted["rewards"] = _count(
        session.execute(
            delete(rewards).where(rewards.c.organization_id == org, rewards.c.learner_id == who)
        )
    )
    audit.record(
        session,
        organization_id=org,
        actor=actor,
        action="privacy:financial_records:delete",
        target_type="learner",
        target_id=who,
        details={"deleted": deleted},
    )
    return deleted
