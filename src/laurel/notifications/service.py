"""Email: each organization's settings and the outbox the worker sends from.

Rows are written in the transaction of the change they report (``reward_changed`` is called by
``rewards.transition_many``), set-based: one read of the organizations' settings per unit of
work and one INSERT, whatever the number of rewards. What only the send needs (the learner's
address and locale, the code delivered) is read by the worker when it sends, not here.

Sending is at-least-once per row with one exception made as rare as it can be: a worker that
crashes after the SMTP server accepted a message and before it recorded that, sends it again
when the lease runs out. The Message-ID is the same on every attempt, so mail systems and
clients can tell a repeat. Two live workers never send one row twice: a row is claimed with a
guarded UPDATE (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and its lease outlasts the SMTP
timeout.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from laurel import i18n
from laurel.audit import service as audit
from laurel.kit import crypto
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import Conflict, Invalid, NotFound
from laurel.kit.ids import uuid7
from laurel.kit.outbox import Outbox
from laurel.kit.pagination import Page, paginate
from laurel.kit.sql import insert_rows
from laurel.learners import sealing
from laurel.notifications import render
from laurel.notifications.models import EmailSettings, OutboxEmail, OutboxStatus
from laurel.rewards.models import Reward, RewardState

OUTBOX_SIGNAL = "laurel.notifications.outbox"
"""Set in ``session.info`` when rows were written: the worker wakes after the commit."""
_SETTINGS_CACHE = "laurel.notifications.settings"
_OUTBOX: Table = OutboxEmail.__table__  # type: ignore[assignment]
_BOX = Outbox(OutboxEmail)
_ADDRESS = re.compile(
    r"^[^@\s<>,;\"]{1,64}@[^@\s<>,;\"]{1,253}\.[^@\s<>,;\".]{1,63}$|"
    r"^[^@\s<>,;\"]{1,64}@localhost$"
)
DIGEST_LIMIT = 20
"""Rewards listed by name in one admin email; the rest are counted."""


class EmailNotFound(NotFound):
    code = "email_not_found"


def valid_address(value: str) -> bool:
    return bool(_ADDRESS.match(value))


# ---------------------------------------------------------------- settings


@dataclass(frozen=True, slots=True)
class SettingsUpdate:
    enabled: bool | None = None
    sender_address: str | None = None
    sender_name: str | None = None
    reply_to: str | None = None
    admin_recipients: list[str] | None = None
    learner_emails: bool | None = None
    test_mode: bool | None = None
    admin_locale: str | None = None
    fields_set: frozenset[str] = frozenset()
    """Which fields the caller sent (None in a sent field clears it)."""


def get_settings(session: Session, organization_id: uuid.UUID) -> EmailSettings | None:
    return session.scalar(
        select(EmailSettings).where(EmailSettings.organization_id == organization_id)
    )


def update_settings(session: Session, actor: Actor, change: SettingsUpdate) -> EmailSettings:
    problems = []
    for name in ("sender_address", "reply_to"):
        value = getattr(change, name)
        if name in change.fields_set and value is not None and not valid_address(value):
            problems.append({"field": name, "message": f"{value!r} is not an email address"})
    for n, address in enumerate(change.admin_recipients or []):
        if not valid_address(address):
            problems.append(
                {"field": f"admin_recipients.{n}", "message": f"{address!r} is not an address"}
            )
    locale = change.admin_locale
    if "admin_locale" in change.fields_set and locale and i18n.parse_locale(locale) is None:
        problems.append({"field": "admin_locale", "message": f"{locale!r} is not a language tag"})
    if problems:
        raise Invalid([p | {"type": "value_error"} for p in problems])
    row = get_settings(session, actor.organization_id)
    if row is None:
        row = EmailSettings(
            organization_id=actor.organization_id,
            enabled=False,
            admin_recipients=[],
            learner_emails=True,
            test_mode=False,
        )
        session.add(row)
    changed: dict[str, Any] = {}
    for name in change.fields_set:
        value = getattr(change, name)
        if name in {"enabled", "learner_emails", "test_mode"} and value is None:
            continue  # booleans are not cleared, only set
        if name == "admin_recipients":
            value = list(dict.fromkeys(value or []))
        setattr(row, name, value)
        changed[name] = value
    row.updated_at = utcnow()
    session.flush()
    session.info.pop(_SETTINGS_CACHE, None)
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="notifications:email_settings:update",
        target_type="email_settings",
        target_id=row.id,
        details=changed,
    )
    return row


@dataclass(frozen=True, slots=True)
class _OrgEmail:
    enabled: bool
    learner_emails: bool
    test_mode: bool
    admins: tuple[str, ...]


def _settings_for(session: Session, organization_ids: set[uuid.UUID]) -> dict[uuid.UUID, _OrgEmail]:
    """The settings of these organizations, read once per unit of work."""
    cache: dict[uuid.UUID, _OrgEmail | None] = session.info.setdefault(_SETTINGS_CACHE, {})
    missing = organization_ids - cache.keys()
    if missing:
        for org in missing:
            cache[org] = None
        rows = session.execute(
            select(
                EmailSettings.organization_id,
                EmailSettings.enabled,
                EmailSettings.learner_emails,
                EmailSettings.test_mode,
                EmailSettings.admin_recipients,
            ).where(EmailSettings.organization_id.in_(missing))
        )
        for org, enabled, learners, test_mode, admins in rows:
            cache[org] = _OrgEmail(enabled, learners, test_mode, tuple(admins or ()))
    return {org: found for org in organization_ids if (found := cache.get(org)) is not None}


# ---------------------------------------------------------------- writing the outbox


def _row(
    *,
    organization_id: uuid.UUID,
    livemode: bool,
    template: str,
    now: datetime,
    reward_id: uuid.UUID | None = None,
    learner_id: uuid.UUID | None = None,
    recipient: str | None = None,
    locale: str | None = None,
    context: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> dict[str, Any]:
    row_id = uuid7()
    return {
        "id": row_id,
        "organization_id": organization_id,
        "livemode": livemode,
        "template": template,
        "reward_id": reward_id,
        "learner_id": learner_id,
        "recipient": recipient,
        "locale": locale,
        "context": context or {},
        "dedupe_key": dedupe_key,
        "secrets_sealed": None,
        "status": OutboxStatus.pending,
        "attempts": 0,
        "message_id": f"<{row_id}@laurel>",
        "created_at": now,
        "updated_at": now,
    }


def _write(session: Session, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
    if not rows:
        return set()
    _seal(session, rows)
    written: set[uuid.UUID] = insert_rows(session, _OUTBOX, rows, ("organization_id", "dedupe_key"))
    if written:
        session.info[OUTBOX_SIGNAL] = True
    return written


SEALED = "_sealed"
"""Key in an outbox row's context holding its secret values, encrypted (see enqueue_email):
rows written before migration 0023, which moved them to ``secrets_sealed``."""


def _seal(session: Session, rows: list[dict[str, Any]]) -> None:
    """Address and template values sealed under the learner's key (the ring's for operator
    emails): erasing the learner makes their queued and sent emails unreadable."""
    for entry, name in (
        (sealing.OUTBOX_RECIPIENT, "recipient"),
        (sealing.OUTBOX_CONTEXT, "context"),
    ):
        by_org: dict[uuid.UUID, list[dict[str, Any]]] = {}
        for row in rows:
            by_org.setdefault(row["organization_id"], []).append(row)
        for org, mine in by_org.items():
            tokens = sealing.seal_many(
                session, org, entry, [(row["learner_id"], row[name]) for row in mine]
            )
            for row, token in zip(mine, tokens, strict=True):
                row[entry.column] = token
                row[name] = None if name == "recipient" else {}


def _seal_secrets(ring: crypto.KeyRing, row_id: uuid.UUID, values: dict[str, str]) -> str:
    # Bound to the row inside the sealed text (the column's context is fixed, so ``keys
    # rotate`` can re-encrypt it): a value copied to another row no longer opens.
    return ring.encrypt(
        sealing.dumps({"row": str(row_id), "values": values}), sealing.OUTBOX_SECRETS.context
    )


def open_secrets(ring: crypto.KeyRing, row_id: uuid.UUID, token: str) -> dict[str, str]:
    """An outbox row's secret values in clear (raises ``DecryptionError`` when they do not
    open, or belong to another row)."""
    opened = json.loads(ring.decrypt(token, sealing.OUTBOX_SECRETS.context))
    if opened.get("row") != str(row_id):
        raise crypto.DecryptionError("the secrets belong to another outbox row")
    values: dict[str, str] = opened["values"]
    return values


def secret_context(row_id: uuid.UUID, name: str) -> str:
    """The encryption context of one secret value of one outbox row: a value copied to
    another row or name no longer decrypts."""
    return f"notifications:outbox:{row_id}:{name}"


def enqueue_email(
    session: Session,
    organization_id: uuid.UUID,
    to: str,
    template: str,
    locale: str | None,
    context: dict[str, Any],
    *,
    livemode: bool = True,
    dedupe_key: str | None = None,
    learner_id: uuid.UUID | None = None,
    secrets: dict[str, str] | None = None,
) -> uuid.UUID | None:
    """Queue one email to ``to`` in the caller's transaction; the worker sends it after commit.

    ``template`` names files in ``notifications/templates`` (``<name>.subject.txt``,
    ``<name>.txt``, ``<name>.html``); ``context`` must be JSON values. ``secrets`` (a one-time
    link, say) go into the template's context like ``context`` but are stored encrypted with
    the key ring (AES-GCM, bound to the row and the name) and decrypted only when the worker
    composes the message. This does not look at the organization's email switch: a password
    reset is sent whether or not reward emails are on. Answers the row id, or None when
    ``dedupe_key`` was already used in this organization.
    """
    if not render.exists(template):
        raise ValueError(f"no email template {template!r}")
    if not valid_address(to):
        raise ValueError(f"{to!r} is not an email address")
    row = _row(
        organization_id=organization_id,
        livemode=livemode,
        template=template,
        now=utcnow(),
        learner_id=learner_id,
        recipient=to,
        locale=locale,
        context=dict(context),
        dedupe_key=dedupe_key,
    )
    if secrets:
        row["secrets_sealed"] = _seal_secrets(crypto.ring_of(session), row["id"], secrets)
    return row["id"] if _write(session, [row]) else None


SECRET_TEMPLATES = frozenset({"password_reset", "learner_sign_in"})
"""Emails whose context holds a sign-in or reset link: once sent, the row forgets it."""


def enqueue_learner_email(
    session: Session,
    organization_id: uuid.UUID,
    learner_id: uuid.UUID,
    template: str,
    context: dict[str, Any],
    *,
    livemode: bool = True,
    dedupe_key: str | None = None,
) -> uuid.UUID | None:
    """Queue one email to a learner in the caller's transaction.

    The address and the language are the learner's, read by the worker when it sends (a
    learner who changed language meanwhile gets the new one; one without an address is
    skipped). Like :func:`enqueue_email`, this does not look at the organization's switch.
    Answers the row id, or None when ``dedupe_key`` was already used in this organization.
    """
    if not render.exists(template):
        raise ValueError(f"no email template {template!r}")
    row = _row(
        organization_id=organization_id,
        livemode=livemode,
        template=template,
        now=utcnow(),
        learner_id=learner_id,
        context=context,
        dedupe_key=dedupe_key,
    )
    return row["id"] if _write(session, [row]) else None


def learner_emails_wanted(session: Session, organization_id: uuid.UUID, livemode: bool) -> bool:
    """Whether the organization sends learners emails of their own (email on, learner emails
    on, and test mode on for test-mode records)."""
    found = _settings_for(session, {organization_id}).get(organization_id)
    return (
        found is not None
        and found.enabled
        and found.learner_emails
        and (livemode or found.test_mode)
    )


def wants_test_mode(session: Session, organization_id: uuid.UUID) -> bool:
    """Whether the organization asked for test-mode emails too (its email settings)."""
    found = _settings_for(session, {organization_id}).get(organization_id)
    return found is not None and found.test_mode


def alert_admins(
    session: Session,
    organization_id: uuid.UUID,
    template: str,
    context: dict[str, Any],
    *,
    livemode: bool = True,
) -> int:
    """Queue an operator email (an alert) to each of the organization's admin recipients, in
    the caller's transaction, when its email is on. Each is written in the recipient's language
    at send time (their user's, else ``admin_locale``). Answers how many were queued."""
    if not render.exists(template):
        raise ValueError(f"no email template {template!r}")
    found = _settings_for(session, {organization_id}).get(organization_id)
    if found is None or not found.enabled or not found.admins:
        return 0
    if not livemode and not found.test_mode:
        return 0
    now = utcnow()
    rows = [
        _row(
            organization_id=organization_id,
            livemode=livemode,
            template=template,
            now=now,
            recipient=address,
            context=context,
        )
        for address in found.admins
    ]
    return len(_write(session, rows))


_ADMIN_TEMPLATES = {RewardState.held: "rewards_held", RewardState.failed: "rewards_failed"}


def reward_changed(session: Session, rewards: Sequence[Reward], new: RewardState) -> int:
    """Queue what the organizations want to hear about rewards that just moved to ``new``.

    ``delivered``: the learner hears about their reward. ``held`` and ``failed``: the
    organization's admin recipients get one email per change listing the rewards (a batch held
    for an exhausted budget is one email, not thousands). A learner is never told of a hold:
    some holds (sanctions) must not be disclosed to them.
    """
    if (new is not RewardState.delivered and new not in _ADMIN_TEMPLATES) or not rewards:
        return 0
    wanted = _settings_for(session, {r.organization_id for r in rewards})
    if not wanted:
        return 0
    now = utcnow()
    rows: list[dict[str, Any]] = []
    if new is RewardState.delivered:
        for reward in rewards:
            found = wanted.get(reward.organization_id)
            if found is None or not found.enabled or not found.learner_emails:
                continue
            if not reward.livemode and not found.test_mode:
                continue
            rows.append(
                _row(
                    organization_id=reward.organization_id,
                    livemode=reward.livemode,
                    template="reward_delivered",
                    now=now,
                    reward_id=reward.id,
                    learner_id=reward.learner_id,
                    dedupe_key=f"reward_delivered:{reward.id}",
                )
            )
    else:
        groups: dict[tuple[uuid.UUID, bool], list[Reward]] = {}
        for reward in rewards:
            groups.setdefault((reward.organization_id, reward.livemode), []).append(reward)
        for (org, livemode), group in groups.items():
            found = wanted.get(org)
            if found is None or not found.enabled or not found.admins:
                continue
            if not livemode and not found.test_mode:
                continue
            context = _digest(group, new)
            rows.extend(
                _row(
                    organization_id=org,
                    livemode=livemode,
                    template=_ADMIN_TEMPLATES[new],
                    now=now,
                    recipient=address,
                    context=context,
                )
                for address in found.admins
            )
    return len(_write(session, rows))


def _digest(group: Sequence[Reward], new: RewardState) -> dict[str, Any]:
    reasons: dict[str, int] = {}
    for reward in group:
        if new is RewardState.held:
            for hold in reward.hold_reasons or []:
                code = str(hold.get("reason") or "unknown")
                reasons[code] = reasons.get(code, 0) + 1
        else:
            code = (reward.last_error or "unknown")[:120]
            reasons[code] = reasons.get(code, 0) + 1
    return {
        "count": len(group),
        "reasons": [{"reason": k, "count": v} for k, v in sorted(reasons.items())],
        "rewards": [
            {
                "id": str(r.id),
                "amount": {"minor": r.amount_minor, "currency": r.currency},
                "learner_id": str(r.learner_id),
            }
            for r in group[:DIGEST_LIMIT]
        ],
    }


# ---------------------------------------------------------------- the worker's side


@dataclass(frozen=True, slots=True)
class Claimed:
    id: uuid.UUID
    organization_id: uuid.UUID
    livemode: bool
    template: str
    reward_id: uuid.UUID | None
    learner_id: uuid.UUID | None
    recipient: str | None
    locale: str | None
    context: dict[str, Any]
    message_id: str
    attempts: int
    secrets: str | None = None
    """The sealed secret values (:func:`open_secrets` opens them when the email is composed)."""


def claim(session: Session, *, limit: int, lease_seconds: float) -> list[Claimed]:
    """Lease up to ``limit`` due rows to the caller (``pending -> sending``)."""
    now = utcnow()
    candidates = [
        row[0]
        for row in _BOX.candidates(session, select(OutboxEmail).where(_BOX.due(now)), limit=limit)
    ]
    taken = _BOX.take(session, [c.id for c in candidates], now=now, lease_seconds=lease_seconds)
    mine = [c for c in candidates if c.id in taken]
    # Opened in one pass: the learners' keys are read once for the whole claim.
    recipients = sealing.open_many(
        session, sealing.OUTBOX_RECIPIENT, [c.recipient_sealed for c in mine]
    )
    contexts = sealing.open_many(session, sealing.OUTBOX_CONTEXT, [c.context_sealed for c in mine])
    return [
        Claimed(
            id=c.id,
            organization_id=c.organization_id,
            livemode=c.livemode,
            template=c.template,
            reward_id=c.reward_id,
            learner_id=c.learner_id,
            recipient=c.recipient if c.recipient_sealed is None else to,
            locale=c.locale,
            context=dict((c.context if c.context_sealed is None else values) or {}),
            message_id=c.message_id or f"<{c.id}@laurel>",
            attempts=c.attempts + 1,
            secrets=c.secrets_sealed,
        )
        for c, to, values in zip(mine, recipients, contexts, strict=True)
    ]


def _settle(session: Session, row_id: uuid.UUID, **values: Any) -> bool:
    """Record an outcome if the row is still being sent; False when it was settled already."""
    return _BOX.settle(session, row_id, **values)


def record_sent(session: Session, sent: Claimed, recipient: str, locale: str) -> bool:
    """The row was sent to ``recipient``: kept sealed under the claim's learner (or the ring)."""
    row_id = sent.id
    settled = _settle(
        session,
        row_id,
        status=OutboxStatus.sent,
        sent_at=utcnow(),
        recipient=None,
        recipient_sealed=sealing.seal(
            session, sent.organization_id, sealing.OUTBOX_RECIPIENT, sent.learner_id, recipient
        ),
        locale=locale,
        last_error=None,
    )
    if settled:
        # A sent link lives only in the recipient's mailbox from now on.
        session.execute(
            update(OutboxEmail)
            .where(OutboxEmail.id == row_id, OutboxEmail.template.in_(sorted(SECRET_TEMPLATES)))
            .values(context={"redacted": True}, context_sealed=None, secrets_sealed=None)
            .execution_options(synchronize_session=False)
        )
    return settled


def record_skipped(session: Session, row_id: uuid.UUID, why: str) -> bool:
    return _settle(session, row_id, status=OutboxStatus.skipped, last_error=why[:1000])


def record_retry(session: Session, row_id: uuid.UUID, error: str, delay: float) -> bool:
    return _settle(
        session,
        row_id,
        status=OutboxStatus.pending,
        next_attempt_at=utcnow() + timedelta(seconds=delay),
        last_error=error[:1000],
    )


def record_failed(session: Session, row_id: uuid.UUID, error: str) -> bool:
    return _settle(session, row_id, status=OutboxStatus.failed, last_error=error[:1000])


def due_at(session: Session) -> datetime | None:
    """When the next delayed retry becomes due."""
    return _BOX.next_due(session)


# ---------------------------------------------------------------- retention

SETTLED = (OutboxStatus.sent, OutboxStatus.skipped, OutboxStatus.failed)


def purge(
    session: Session, *, body_before: datetime, log_before: datetime, now: datetime, limit: int
) -> tuple[int, int]:
    """One batch of retention: settled emails last changed before ``body_before`` lose their
    content and address (personal data: a digest lists rewards, the address names a person);
    those before ``log_before`` are deleted. Answers (emptied, deleted)."""
    deleted = _BOX.delete(
        session,
        _BOX.expired(session, settled=SETTLED, before=log_before, limit=limit),
        settled=SETTLED,
    )
    emptied = _BOX.purge_bodies(
        session,
        settled=SETTLED,
        before=body_before,
        blank={
            "context": {},
            "recipient": None,
            "context_sealed": None,
            "recipient_sealed": None,
            "secrets_sealed": None,
        },
        now=now,
        limit=limit,
    )
    return emptied, deleted


# ---------------------------------------------------------------- reading (API)


def list_emails(
    session: Session,
    actor: Actor,
    *,
    limit: int,
    cursor: uuid.UUID | None,
    status: OutboxStatus | None = None,
    reward_id: uuid.UUID | None = None,
) -> Page[OutboxEmail]:
    query = select(OutboxEmail).where(
        OutboxEmail.organization_id == actor.organization_id,
        OutboxEmail.livemode == actor.livemode,
    )
    if status is not None:
        query = query.where(OutboxEmail.status == status)
    if reward_id is not None:
        query = query.where(OutboxEmail.reward_id == reward_id)
    return paginate(session, query, OutboxEmail.id, limit=limit, cursor=cursor)


def get_email(session: Session, actor: Actor, email_id: uuid.UUID) -> OutboxEmail:
    row = session.scalar(
        select(OutboxEmail).where(
            OutboxEmail.organization_id == actor.organization_id,
            OutboxEmail.livemode == actor.livemode,
            OutboxEmail.id == email_id,
        )
    )
    if row is None:
        raise EmailNotFound(f"no email {email_id}")
    return row


def resend(session: Session, actor: Actor, email_id: uuid.UUID) -> OutboxEmail:
    """Send a failed or skipped email again (after fixing an address or the SMTP settings)."""
    row = get_email(session, actor, email_id)
    if row.status not in {OutboxStatus.failed, OutboxStatus.skipped}:
        raise Conflict(f"a {row.status} email is not resent; only failed or skipped ones are")
    if row.purged_at is not None:
        raise Conflict("this email's content was purged under the retention policy")
    row.status = OutboxStatus.pending
    row.attempts = 0
    row.next_attempt_at = None
    row.updated_at = utcnow()
    session.flush()
    session.info[OUTBOX_SIGNAL] = True
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="notifications:email:resend",
        target_type="email",
        target_id=row.id,
        details={"template": row.template},
    )
    return row
