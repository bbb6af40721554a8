"""Reward links: mint, visit, redeem exactly once, reissue, expire.

A link reward is delivered (``issuing -> delivered``) when its link is minted; it waits there
until the learner redeems it (``delivered -> redeemed``) or the link expires
(``delivered -> expired``; a reissue brings it back to ``delivered``). The budget is spent when
the link is minted: the money is committed to the learner from then on.

Redeeming is two short transactions around the provider call. The first *claims* the link with
one guarded UPDATE (``status = 'open'`` and unexpired -> ``redeeming``), fixing the chosen item
and the conversion; of two simultaneous submissions only one claim matches a row, and only its
request calls the provider. The second records the issuance (``redeeming -> redeemed``). A
claim left unfinished longer than the lease (crash, provider timeout) is taken over by the next
submission, which issues the same item with the same idempotency key (the reward id), so the
provider answers with the first issuance instead of paying twice.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, literal, select, update
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.catalog import conversions
from laurel.catalog import service as catalog
from laurel.catalog.models import CatalogItem, RewardConversion
from laurel.delivery import service as delivery
from laurel.delivery.providers import Issued, IssueOrder
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.crypto import KeyRing
from laurel.kit.errors import AppError, Conflict, Invalid, NotFound, field_error
from laurel.kit.money import Money
from laurel.learners import service as learners
from laurel.learners.models import Learner
from laurel.links import tokens
from laurel.links.models import LinkSettings, LinkStatus, RewardLink
from laurel.organizations import service as organizations
from laurel.programs import service as programs
from laurel.programs.models import DeliveryModel
from laurel.rewards import service as rewards
from laurel.rewards.models import Reward, RewardState

CHANNEL = DeliveryModel.link.value
"""The delivery channel (and provider name) of link rewards."""
REVEAL_FOR = timedelta(minutes=10)
"""How long after redemption the link page shows the full code; later only its last digits."""
_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_URL = re.compile(r"^https?://[^\s\"'<>]+$")


class LinkNotFound(NotFound):
    code = "link_not_found"


class LinkConflict(Conflict):
    code = "link_conflict"


class StaleForm(AppError):
    status = 400
    code = "stale_form"


def holder(link: RewardLink) -> str:
    """The audit actor for what the link's holder does (the learner, as far as we can know)."""
    return f"link:{link.id}"


# ---------------------------------------------------------------- settings and brand


PRIMARY = "#1f4e79"
ACCENT = "#f5f7fa"


@dataclass(frozen=True, slots=True)
class Brand:
    name: str
    logo_url: str | None = None
    primary_color: str = PRIMARY
    accent_color: str = ACCENT
    support_contact: str | None = None


def brand_problems(brand: dict[str, Any]) -> list[dict[str, str]]:
    problems = []
    for key in ("primary_color", "accent_color"):
        value = brand.get(key)
        if value is not None and not (isinstance(value, str) and _COLOUR.match(value)):
            problems.append(
                {"field": f"brand.{key}", "message": "use #rgb or #rrggbb", "type": "value_error"}
            )
    logo = brand.get("logo_url")
    if logo is not None and not (isinstance(logo, str) and _URL.match(logo)):
        problems.append(
            {"field": "brand.logo_url", "message": "use an http(s) URL", "type": "value_error"}
        )
    return problems


def _brand(org_name: str, *layers: dict[str, Any]) -> Brand:
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update({k: v for k, v in layer.items() if v not in (None, "")})
    # Stored brands are checked when set; an organization brand set elsewhere is checked here.
    for problem in brand_problems(merged):
        merged.pop(problem["field"].removeprefix("brand."), None)
    return Brand(
        name=str(merged.get("name") or org_name),
        logo_url=merged.get("logo_url"),
        primary_color=merged.get("primary_color", PRIMARY),
        accent_color=merged.get("accent_color", ACCENT),
        support_contact=merged.get("support_contact"),
    )


def settings_for(
    session: Session, organization_id: uuid.UUID, program_id: uuid.UUID
) -> LinkSettings | None:
    return session.scalar(
        select(LinkSettings).where(
            LinkSettings.organization_id == organization_id, LinkSettings.program_id == program_id
        )
    )


def put_settings(
    session: Session,
    actor: Actor,
    program_id: uuid.UUID,
    *,
    lifetime_days: int | None,
    brand: dict[str, Any],
) -> LinkSettings:
    programs.get(session, actor, program_id)  # 404 for another organization's program
    problems = brand_problems(brand)
    if problems:
        raise Invalid(problems)
    found = settings_for(session, actor.organization_id, program_id)
    if found is None:
        found = LinkSettings(organization_id=actor.organization_id, program_id=program_id)
        session.add(found)
    found.lifetime_days = lifetime_days
    found.brand = brand
    found.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="links:settings:update",
        target_type="program",
        target_id=program_id,
        details={"lifetime_days": lifetime_days, "brand": brand},
    )
    return found


def brand_for(session: Session, organization_id: uuid.UUID, program_id: uuid.UUID) -> Brand:
    org = organizations.get(session, organization_id)
    found = settings_for(session, organization_id, program_id)
    return _brand(org.name, org.brand or {}, found.brand if found else {})


# ---------------------------------------------------------------- minting


def current(session: Session, reward_id: uuid.UUID, *, lock: bool = False) -> RewardLink | None:
    """The reward's newest link (the only one that can open), if any."""
    query = (
        select(RewardLink)
        .where(RewardLink.reward_id == reward_id)
        .order_by(RewardLink.generation.desc())
        .limit(1)
    )
    return session.scalar(query.with_for_update() if lock else query)


def _lifetime(
    session: Session, organization_id: uuid.UUID, program_id: uuid.UUID, default_days: int
) -> timedelta:
    found = settings_for(session, organization_id, program_id)
    days = found.lifetime_days if found and found.lifetime_days else default_days
    return timedelta(days=days)


def _new_link(
    session: Session,
    reward: Reward,
    generation: int,
    *,
    secret: str,
    default_days: int,
    now: datetime,
) -> RewardLink:
    salt = tokens.new_salt()
    return RewardLink(
        organization_id=reward.organization_id,
        reward_id=reward.id,
        event_id=reward.event_id,
        program_id=reward.program_id,
        learner_id=reward.learner_id,
        livemode=reward.livemode,
        generation=generation,
        salt=salt,
        token_hash=tokens.hash_token(tokens.token_for(secret, salt)),
        status=LinkStatus.open,
        expires_at=now
        + _lifetime(session, reward.organization_id, reward.program_id, default_days),
        updated_at=now,
    )


def mint(
    session: Session, reward_id: uuid.UUID, *, secret: str, default_days: int, actor: str
) -> RewardLink:
    """The reward's first link; minting again returns it (the worker may ask twice)."""
    found = current(session, reward_id)
    if found is not None:
        return found
    reward = rewards.by_id(session, reward_id)
    if reward is None:
        raise LinkConflict(f"no reward {reward_id}")
    now = utcnow()
    link = _new_link(session, reward, 1, secret=secret, default_days=default_days, now=now)
    session.add(link)
    session.flush()  # a racing minter fails here on (reward_id, generation) and retries
    _audit_link(session, link, actor, "mint", {"expires_at": link.expires_at.isoformat()})
    return link


def _audit_link(
    session: Session, link: RewardLink, actor: str, verb: str, details: dict[str, Any]
) -> None:
    audit.record(
        session,
        organization_id=link.organization_id,
        actor=actor,
        action=f"links:link:{verb}",
        target_type="reward_link",
        target_id=link.id,
        details={"reward_id": str(link.reward_id), "generation": link.generation, **details},
    )


def issued_for(link: RewardLink) -> Issued:
    """What the worker records as the link delivery: never the token, only where to find it."""
    return Issued(
        reference=f"link_{link.id.hex}",
        details={
            "channel": CHANNEL,
            "link_id": str(link.id),
            "expires_at": link.expires_at.isoformat(),
        },
    )


def url_of(public_url: str, secret: str, link: RewardLink) -> str:
    return f"{public_url.rstrip('/')}/r/{tokens.token_for(secret, link.salt)}"


def link_urls(
    session: Session,
    organization_id: uuid.UUID,
    reward_ids: list[uuid.UUID],
    *,
    public_url: str,
    secret: str,
) -> dict[uuid.UUID, str]:
    """The URL of each reward's newest, unrevoked link (rewards without one are left out)."""
    if not reward_ids:
        return {}
    newest = (
        select(RewardLink.reward_id, func.max(RewardLink.generation).label("generation"))
        .where(RewardLink.organization_id == organization_id, RewardLink.reward_id.in_(reward_ids))
        .group_by(RewardLink.reward_id)
        .subquery()
    )
    rows = session.scalars(
        select(RewardLink).join(
            newest,
            (RewardLink.reward_id == newest.c.reward_id)
            & (RewardLink.generation == newest.c.generation),
        )
    )
    return {
        link.reward_id: url_of(public_url, secret, link)
        for link in rows
        if link.status != LinkStatus.revoked
    }


# ---------------------------------------------------------------- the learner's side


def find(session: Session, token: str, *, lock: bool = False) -> RewardLink:
    if not token or len(token) > 100:
        raise LinkNotFound("no such link")
    query = select(RewardLink).where(RewardLink.token_hash == tokens.hash_token(token))
    link = session.scalar(query.with_for_update() if lock else query)
    if link is None:
        raise LinkNotFound("no such link")
    return link


def _reward_kinds(reward_kind: str) -> set[str] | None:
    return None if reward_kind == "learner_choice" else {reward_kind}


@dataclass(slots=True)
class View:
    """Everything the link page shows."""

    link: RewardLink
    reward: Reward
    learner: Learner | None
    brand: Brand
    state: str
    """choose | redeeming | redeemed | expired | revoked"""
    choices: list[catalog.Choice]
    item: CatalogItem | None = None
    conversion: RewardConversion | None = None
    details: dict[str, Any] | None = None
    revealed: bool = False
    retry: bool = False
    """A redemption was left unfinished past its lease: the page offers to finish it."""

    @property
    def amount(self) -> Money:
        return Money(self.reward.amount_minor, self.reward.currency)


def _expired(link: RewardLink, now: datetime) -> bool:
    return link.status == LinkStatus.open and link.expires_at <= now


def _expire(session: Session, link: RewardLink, reward: Reward, actor: str, now: datetime) -> None:
    moved = session.execute(
        update(RewardLink)
        .where(RewardLink.id == link.id, RewardLink.status == LinkStatus.open)
        .values(status=LinkStatus.expired, updated_at=now)
        .returning(RewardLink.id)
        .execution_options(synchronize_session=False)
    ).first()
    if moved is None:
        return
    link.status = LinkStatus.expired
    _audit_link(session, link, actor, "expire", {"expires_at": link.expires_at.isoformat()})
    rewards.transition(
        session,
        reward,
        RewardState.delivered,
        RewardState.expired,
        actor=actor,
        details={"link_id": str(link.id)},
    )


def view(
    session: Session,
    link: RewardLink,
    *,
    now: datetime,
    lease: timedelta,
    on: date,
    ring: KeyRing,
) -> View:
    reward = rewards.by_id(session, link.reward_id)
    assert reward is not None
    person = learners.get_many(session, link.organization_id, {link.learner_id}).get(
        link.learner_id
    )
    if person is not None:
        # Opened now, inside the unit of work: the page renders after it ends (sealed fields
        # keep what was opened).
        _ = person.name
    brand = brand_for(session, link.organization_id, link.program_id)
    result = View(link, reward, person, brand, "choose", [])
    if link.catalog_item_id is not None:
        result.item = catalog.by_id(session, link.organization_id, link.catalog_item_id)
        result.conversion = conversions.for_reward(session, link.organization_id, reward.id)
    if link.status == LinkStatus.revoked:
        result.state = "revoked"
    elif link.status == LinkStatus.expired or _expired(link, now):
        result.state = "expired"
    elif link.status == LinkStatus.redeemed:
        result.state = "redeemed"
        found = delivery.delivery_for(session, link.organization_id, reward.id)
        result.revealed = link.redeemed_at is not None and now - link.redeemed_at < REVEAL_FOR
        if found is not None:
            # The full code only in the minutes after redemption, to the link's holder.
            shown = delivery.opened_details(found, ring) if result.revealed else found.details
            result.details = delivery.visible_details(shown, reveal=result.revealed)
    elif link.status == LinkStatus.redeeming:
        result.state = "redeeming"
        result.retry = link.claimed_at is not None and now - link.claimed_at >= lease
    else:
        result.choices = choices_for(session, reward, person, on)
    return result


def choices_for(
    session: Session, reward: Reward, person: Learner | None, on: date
) -> list[catalog.Choice]:
    return catalog.choices(
        session,
        reward.organization_id,
        country=person.country if person else None,
        amount=Money(reward.amount_minor, reward.currency),
        kinds=_reward_kinds(reward.reward_kind),
        on=on,
    )


_OPENED_AT = RewardLink.__table__.c.opened_at


def visit(
    session: Session, token: str, *, now: datetime, lease: timedelta, on: date, ring: KeyRing
) -> View:
    """A GET of the link: counted and audited; a link past its time expires here."""
    link = find(session, token)
    # One UPDATE, so simultaneous visits all count.
    session.execute(
        update(RewardLink)
        .where(RewardLink.id == link.id)
        .values(
            opens=RewardLink.opens + 1,
            opened_at=func.coalesce(RewardLink.opened_at, literal(now, _OPENED_AT.type)),
        )
        .execution_options(synchronize_session=False)
    )
    session.refresh(link, ["opens", "opened_at"])
    _audit_link(session, link, holder(link), "open", {"status": link.status})
    if _expired(link, now):
        reward = rewards.by_id(session, link.reward_id)
        assert reward is not None
        _expire(session, link, reward, holder(link), now)
    session.flush()
    return view(session, link, now=now, lease=lease, on=on, ring=ring)


@dataclass(frozen=True, slots=True)
class Claim:
    link_id: uuid.UUID
    provider: str
    order: IssueOrder


def claim(
    session: Session,
    token: str,
    *,
    item_id: uuid.UUID | None,
    form_token: str | None,
    secret: str,
    now: datetime,
    lease: timedelta,
    on: date,
) -> Claim | None:
    """Take the link for one redemption attempt; None when there is nothing to issue (already
    redeemed, being redeemed by another request, expired or revoked: the page says which)."""
    link = find(session, token)
    if not tokens.form_token_ok(secret, link.id, form_token):
        raise StaleForm("this form is out of date; open the link again")
    reward = rewards.by_id(session, link.reward_id)
    assert reward is not None
    if _expired(link, now):
        _expire(session, link, reward, holder(link), now)
        return None
    if link.status == LinkStatus.open:
        return _claim_open(session, link, reward, item_id, now, on)
    if (
        link.status == LinkStatus.redeeming
        and link.claimed_at is not None
        and now - link.claimed_at >= lease
    ):
        return _take_over(session, link, reward, now)
    return None


def _claim_open(
    session: Session,
    link: RewardLink,
    reward: Reward,
    item_id: uuid.UUID | None,
    now: datetime,
    on: date,
) -> Claim | None:
    if item_id is None:
        raise field_error("item_id", "choose a reward")
    person = learners.get_many(session, link.organization_id, {link.learner_id}).get(
        link.learner_id
    )
    chosen = next(
        (c for c in choices_for(session, reward, person, on) if c.item.id == item_id), None
    )
    if chosen is None:
        raise field_error("item_id", "that reward is not available to you")
    taken = session.execute(
        update(RewardLink)
        .where(
            RewardLink.id == link.id,
            RewardLink.status == LinkStatus.open,
            RewardLink.expires_at > now,
        )
        .values(
            status=LinkStatus.redeeming,
            claimed_at=now,
            catalog_item_id=chosen.item.id,
            attempts=RewardLink.attempts + 1,
            last_error=None,
            updated_at=now,
        )
        .returning(RewardLink.id)
        .execution_options(synchronize_session=False)
    ).first()
    if taken is None:
        return None  # another submission claimed it first: only that one issues
    conversions.record(session, link.organization_id, reward.id, chosen.quote, on)
    _audit_link(
        session,
        link,
        holder(link),
        "claim",
        {
            "item_id": str(chosen.item.id),
            "provider": chosen.item.provider,
            "sku": chosen.item.sku,
            "amount": chosen.quote.amount.to_json(),
            "fee": chosen.quote.fee.to_json(),
            "rate": format(chosen.quote.rate, "f"),
            "rate_source": chosen.quote.source,
        },
    )
    return _order(session, link, reward, person, chosen.item, chosen.quote.amount)


def _take_over(session: Session, link: RewardLink, reward: Reward, now: datetime) -> Claim | None:
    previous = link.claimed_at
    taken = session.execute(
        update(RewardLink)
        .where(
            RewardLink.id == link.id,
            RewardLink.status == LinkStatus.redeeming,
            RewardLink.claimed_at == previous,
        )
        .values(claimed_at=now, attempts=RewardLink.attempts + 1, updated_at=now)
        .returning(RewardLink.id)
        .execution_options(synchronize_session=False)
    ).first()
    if taken is None or link.catalog_item_id is None:
        return None
    item = catalog.by_id(session, link.organization_id, link.catalog_item_id)
    fixed = conversions.for_reward(session, link.organization_id, reward.id)
    if item is None or fixed is None:
        return None
    person = learners.get_many(session, link.organization_id, {link.learner_id}).get(
        link.learner_id
    )
    _audit_link(session, link, holder(link), "claim", {"resumed": True, "item_id": str(item.id)})
    # The same item and amount as the first attempt: a replay the provider recognises.
    return _order(session, link, reward, person, item, Money(fixed.to_minor, fixed.to_currency))


def _order(
    session: Session,
    link: RewardLink,
    reward: Reward,
    person: Learner | None,
    item: CatalogItem,
    amount: Money,
) -> Claim:
    # Test mode never reaches a real provider, whichever item was chosen.
    provider = item.provider if reward.livemode else "sandbox"
    return Claim(
        link_id=link.id,
        provider=provider,
        order=IssueOrder(
            idempotency_key=str(reward.id),
            organization_id=reward.organization_id,
            amount=amount,
            reward_kind=item.kind,
            livemode=reward.livemode,
            recipient_email=person.email if person else None,
            recipient_name=person.name if person else None,
            locale=person.locale if person else None,
            sku=item.sku,
        ),
    )


def record_redeemed(
    session: Session, link_id: uuid.UUID, provider: str, issued: Issued, *, ring: KeyRing
) -> bool:
    """The provider issued: finish the link and the reward. False if already recorded."""
    link = session.get(RewardLink, link_id)
    if link is None:
        return False
    now = utcnow()
    done = session.execute(
        update(RewardLink)
        .where(RewardLink.id == link_id, RewardLink.status == LinkStatus.redeeming)
        .values(
            status=LinkStatus.redeemed,
            redeemed_at=now,
            provider=provider,
            provider_reference=issued.reference[:200],
            last_error=None,
            updated_at=now,
        )
        .returning(RewardLink.id)
        .execution_options(synchronize_session=False)
    ).first()
    if done is None:
        return False
    delivery.record_redeemed(
        session,
        link.organization_id,
        link.reward_id,
        provider,
        issued,
        {"channel": CHANNEL, "link_id": str(link.id)},
        ring=ring,
    )
    _audit_link(
        session,
        link,
        holder(link),
        "redeem",
        {"provider": provider, "reference": issued.reference, "item_id": str(link.catalog_item_id)},
    )
    reward = rewards.by_id(session, link.reward_id)
    assert reward is not None
    rewards.transition(
        session,
        reward,
        [RewardState.delivered, RewardState.expired],
        RewardState.redeemed,
        actor=holder(link),
        details={"link_id": str(link.id), "provider": provider, "reference": issued.reference},
        provider_reference=issued.reference[:200],
    )
    return True


def record_failure(session: Session, link_id: uuid.UUID, error: str, *, permanent: bool) -> None:
    """A refused order reopens the link (the learner may choose again); a transient failure
    keeps the claim, to be finished with the same item after the lease."""
    link = session.get(RewardLink, link_id)
    if link is None:
        return
    values: dict[str, Any] = {"last_error": error[:1000], "updated_at": utcnow()}
    if permanent:
        values |= {"status": LinkStatus.open, "claimed_at": None, "catalog_item_id": None}
    moved = session.execute(
        update(RewardLink)
        .where(RewardLink.id == link_id, RewardLink.status == LinkStatus.redeeming)
        .values(**values)
        .returning(RewardLink.id)
        .execution_options(synchronize_session=False)
    ).first()
    if moved is None:
        return
    if permanent:
        conversions.discard(session, link.organization_id, link.reward_id)
    _audit_link(session, link, holder(link), "fail", {"error": error, "permanent": permanent})


# ---------------------------------------------------------------- admin


def reissue(
    session: Session, actor: Actor, reward_id: uuid.UUID, *, secret: str, default_days: int
) -> RewardLink:
    """A new link for the reward; the old one stops opening in the same transaction."""
    reward = rewards.get(session, actor, reward_id, lock=True)
    old = current(session, reward.id, lock=True)
    if old is None:
        raise LinkConflict("this reward has no link to reissue (it is not a link delivery)")
    if old.status in (LinkStatus.redeemed, LinkStatus.redeeming):
        raise LinkConflict(f"the link is {old.status}; a redeemed reward is not reissued")
    if reward.state not in (RewardState.delivered, RewardState.expired):
        raise LinkConflict(f"a {reward.state} reward's link cannot be reissued")
    now = utcnow()
    session.execute(
        update(RewardLink)
        .where(RewardLink.id == old.id)
        .values(status=LinkStatus.revoked, revoked_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    link = _new_link(
        session, reward, old.generation + 1, secret=secret, default_days=default_days, now=now
    )
    session.add(link)
    session.flush()
    _audit_link(
        session,
        link,
        actor.name,
        "reissue",
        {"replaces": str(old.id), "expires_at": link.expires_at.isoformat()},
    )
    if reward.state == RewardState.expired:
        rewards.transition(
            session,
            reward,
            RewardState.expired,
            RewardState.delivered,
            actor=actor.name,
            details={"link_id": str(link.id), "reissued": True},
        )
    return link


def get_link(session: Session, actor: Actor, reward_id: uuid.UUID) -> RewardLink:
    reward = rewards.get(session, actor, reward_id)
    link = current(session, reward.id)
    if link is None:
        raise LinkNotFound("this reward has no link (it is not a link delivery)")
    return link


def expire_due(session: Session, *, now: datetime, actor: str, limit: int = 500) -> int:
    """Expire open links past their time (for a periodic job); answers how many."""
    due = session.scalars(
        select(RewardLink)
        .where(RewardLink.status == LinkStatus.open, RewardLink.expires_at <= now)
        .order_by(RewardLink.expires_at)
        .limit(limit)
    ).all()
    for link in due:
        reward = rewards.by_id(session, link.reward_id)
        if reward is not None:
            _expire(session, link, reward, actor, now)
    return len(due)
