"""Turn claimed outbox rows into messages: who receives them, in which language, saying what.

Done by the worker at send time, in one read per kind of record for the whole batch, so the
transaction that wrote the row stayed small: a 'delivered' row names only its reward.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from laurel.auth import users
from laurel.catalog import conversions
from laurel.catalog.models import RewardConversion
from laurel.config import Settings
from laurel.courses import service as courses
from laurel.delivery import service as delivery
from laurel.kit import crypto
from laurel.kit.money import Money
from laurel.learners import service as learners
from laurel.notifications import render, service
from laurel.notifications.mailer import Envelope
from laurel.organizations import service as organizations
from laurel.rewards import service as rewards

TAX_FORM_REQUEST = "tax_form_request"
"""A learner is asked for a W-9 or W-8BEN (written by :mod:`laurel.tax.emails`)."""


@dataclass(frozen=True, slots=True)
class Composed:
    claimed: service.Claimed
    envelope: Envelope
    rendered: render.Rendered


@dataclass(frozen=True, slots=True)
class Skipped:
    claimed: service.Claimed
    reason: str


def _expiry(details: dict[str, Any]) -> date | None:
    value = details.get("expires_on") or details.get("expires_at") or details.get("expiry")
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _learner_address(
    item: service.Claimed, person: Any
) -> tuple[str, str | None, str | None] | Skipped:
    """Address, locale and name of the learner an email is for, read at send time."""
    if person is None or person.organization_id != item.organization_id:
        return Skipped(item, "the learner no longer exists")
    if not person.email:
        return Skipped(item, "the learner has no email address")
    return str(person.email), person.locale, person.name


def _unseal(ring: crypto.KeyRing, item: service.Claimed, context: dict[str, Any]) -> bool:
    """Put the row's encrypted values (a one-time link) into ``context`` in the clear, for
    this render only; False when one no longer decrypts."""
    sealed = context.pop(service.SEALED, None) or {}
    try:
        if item.secrets is not None:
            context.update(service.open_secrets(ring, item.id, item.secrets))
        context.update(
            {
                name: ring.decrypt(value, service.secret_context(item.id, name))
                for name, value in sealed.items()
            }
        )
    except crypto.DecryptionError:
        return False
    return True


def _amounts(reward: Any, conversion: RewardConversion | None) -> dict[str, Any]:
    """The amount the learner received; when converted, also what it was and the fee kept."""
    program = Money(reward.amount_minor, reward.currency)
    if conversion is None or conversion.to_currency == conversion.from_currency:
        return {"amount": program, "original": None, "fee": None, "rate_date": None}
    return {
        "amount": Money(conversion.to_minor, conversion.to_currency),
        "original": program,
        "fee": Money(conversion.fee_minor, conversion.to_currency)
        if conversion.fee_minor
        else None,
        "rate_date": conversion.rate_date,
    }


def _operator(item: service.Claimed) -> bool:
    """Written to an address of the organization's own (not to a learner)."""
    return item.learner_id is None and item.recipient is not None


def compose(  # noqa: PLR0915 - loads once, then one pass over the claimed rows
    session: Session, settings: Settings, claimed: Sequence[service.Claimed]
) -> list[Composed | Skipped]:
    ring = crypto.ring_of(session)  # the database's ring, built once per process
    orgs = {c.organization_id for c in claimed}
    org_rows = {org: organizations.get(session, org) for org in orgs}
    org_settings = {org: service.get_settings(session, org) for org in orgs}
    people: dict[uuid.UUID, Any] = {}
    for org_id in orgs:
        ids = {c.learner_id for c in claimed if c.organization_id == org_id and c.learner_id}
        people.update(learners.get_many(session, org_id, ids))
    reward_ids = {c.reward_id for c in claimed if c.reward_id and c.template == "reward_delivered"}
    found_rewards = rewards.by_ids(session, reward_ids)
    delivered: dict[uuid.UUID, Any] = {}
    paid: dict[uuid.UUID, Any] = {}
    titles: dict[uuid.UUID, str] = {}
    for org_id in orgs:
        mine_ids = {r.id for r in found_rewards.values() if r.organization_id == org_id}
        delivered.update(delivery.deliveries_for(session, org_id, mine_ids))
        paid.update(conversions.for_rewards(session, org_id, mine_ids))
        course_ids = {
            r.course_id
            for r in found_rewards.values()
            if r.organization_id == org_id and r.course_id is not None  # redemptions: none
        }
        titles.update(
            (c.id, c.title) for c in courses.get_many(session, org_id, course_ids).values()
        )
    # Operator emails (digests, alerts) go out in their recipient user's language, else the
    # organization's email language, else English.
    operator_locales: dict[uuid.UUID, dict[str, str]] = {
        org: users.locales_for(
            session,
            org,
            {c.recipient for c in claimed if c.organization_id == org and c.recipient},
        )
        for org in orgs
    }
    out: list[Composed | Skipped] = []
    for item in claimed:
        org = org_rows[item.organization_id]
        mine = org_settings[item.organization_id]
        context = dict(item.context)
        context["brand"] = render.brand(org.name, org.brand)
        to, locale = item.recipient, item.locale
        if item.template == "reward_delivered":
            reward = found_rewards.get(item.reward_id) if item.reward_id else None
            person = people.get(item.learner_id) if item.learner_id else None
            if reward is None or reward.organization_id != item.organization_id or person is None:
                out.append(Skipped(item, "the reward or its learner no longer exists"))
                continue
            if not person.email:
                out.append(Skipped(item, "the learner has no email address"))
                continue
            to = to or person.email
            locale = locale or person.locale
            found = delivered.get(reward.id)
            # The learner's own email carries the code: decrypted here, at send time.
            details = delivery.opened_details(found, ring) if found is not None else {}
            delivered_at = reward.delivered_at
            context.update(
                learner_name=person.name,
                course_title=(titles.get(reward.course_id) if reward.course_id else None) or None,
                **_amounts(reward, paid.get(reward.id)),
                delivered_on=delivered_at.date() if delivered_at else None,
                code=details.get("code"),
                pin=details.get("pin"),
                url=details.get("url") or details.get("link_url"),
                expires_on=_expiry(details),
            )
        elif item.template == TAX_FORM_REQUEST:
            person = people.get(item.learner_id) if item.learner_id else None
            context.update(
                learner_name=person.name if person is not None else None,
                expires_on=_expiry(context),
            )
        elif item.learner_id is not None and not to:
            found_person = _learner_address(item, people.get(item.learner_id))
            if isinstance(found_person, Skipped):
                out.append(found_person)
                continue
            to, learner_locale, name = found_person
            locale = locale or learner_locale
            context.setdefault("learner_name", name)
        if not _unseal(ring, item, context):
            out.append(Skipped(item, "a secret in the email no longer decrypts (key ring)"))
            continue
        if _operator(item) and not locale and to:
            locale = operator_locales[item.organization_id].get(to.strip().lower()) or (
                mine.admin_locale if mine else None
            )
        if not to or not service.valid_address(to):
            out.append(Skipped(item, f"no usable address ({to!r})"))
            continue
        sender_address = (mine.sender_address if mine else None) or settings.email_from
        sender_name = (mine.sender_name if mine else None) or context["brand"]["name"]
        out.append(
            Composed(
                claimed=item,
                envelope=Envelope(
                    sender_address=sender_address,
                    sender_name=sender_name,
                    to=to,
                    reply_to=mine.reply_to if mine else None,
                    message_id=item.message_id,
                ),
                rendered=render.render(item.template, locale, context),
            )
        )
    return out
