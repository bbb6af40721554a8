"""Learner sign-in: a link by email, then a session; the caller a learner's browser is.

A learner asks for a link with their organization and email. Whether or not the address
belongs to a learner, the answer is the same (nothing tells who is a learner there). For each
live, not-erased learner with that address, one link is written and its email queued in the
same transaction (the worker sends it, in the learner's language): 256 random bits, only their
SHA-256 stored, single use, ``learner_link_minutes`` long. At most ``learner_links_per_hour``
links are mailed to one learner in an hour; further requests mail nothing (and answer the same).

Opening a link (a POST from the page the link shows, so mail scanners that fetch links do not
use it up) marks it used with a guarded UPDATE, so two tabs cannot both sign in with it, and
starts a session: a new random token in an HttpOnly cookie, its SHA-256 in ``learner_sessions``,
with a synchronizer CSRF token that every form must echo.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.auth.permissions import Role
from laurel.kit import crypto
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import AppError, NotFound, Unauthorized
from laurel.learners import personal
from laurel.learners.models import Learner
from laurel.notifications import service as notifications
from laurel.organizations import service as organizations
from laurel.organizations.models import Organization
from laurel.portal.models import LearnerSession, LearnerSignInLink

TEMPLATE = "learner_sign_in"
ACTOR_PREFIX = "learner:"


class InvalidLink(AppError):
    status = 400
    code = "invalid_link"


@dataclass(frozen=True, slots=True)
class Policy:
    link_lifetime: timedelta
    session_lifetime: timedelta
    links_per_hour: int
    public_url: str


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/portal/link/{token}"


def organization_by_slug(session: Session, slug: str) -> Organization | None:
    try:
        return organizations.get_by_slug(session, slug.strip().lower())
    except NotFound:
        return None


def request_link(session: Session, *, organization: str, email: str, policy: Policy) -> int:
    """Write a sign-in link for each live learner of ``organization`` with this ``email`` and
    queue its email; answers how many were queued (the caller must not tell the requester)."""
    org = organization_by_slug(session, organization)
    address = email.strip().lower()
    if org is None or "@" not in address or len(address) > 320:
        return 0
    now = utcnow()
    people = list(
        session.scalars(
            select(Learner)
            .where(
                Learner.organization_id == org.id,
                Learner.livemode.is_(True),
                # Emails are sealed per learner: found through their blind index.
                personal.where_email(crypto.ring_of(session), address),
                Learner.pseudonymised_at.is_(None),
            )
            .order_by(Learner.id)
            .limit(5)
            # Concurrent requests for one learner take turns, so the hourly limit holds.
            .with_for_update()
        )
    )
    queued = 0
    for person in people:
        recent = session.scalar(
            select(func.count())
            .select_from(LearnerSignInLink)
            .where(
                LearnerSignInLink.organization_id == org.id,
                LearnerSignInLink.learner_id == person.id,
                LearnerSignInLink.created_at > now - timedelta(hours=1),
            )
        )
        if (recent or 0) >= policy.links_per_hour:
            continue
        token = secrets.token_urlsafe(32)
        session.add(
            LearnerSignInLink(
                organization_id=org.id,
                learner_id=person.id,
                token_hash=digest(token),
                expires_at=now + policy.link_lifetime,
                created_at=now,
            )
        )
        notifications.enqueue_learner_email(
            session,
            org.id,
            person.id,
            TEMPLATE,
            {
                "url": link_url(policy.public_url, token),
                "minutes": int(policy.link_lifetime.total_seconds() // 60),
            },
        )
        audit.record(
            session,
            organization_id=org.id,
            actor="anonymous",
            action="portal:learner:link_requested",
            target_type="learner",
            target_id=person.id,
        )
        queued += 1
    session.flush()
    return queued


def peek_link(session: Session, token: str) -> LearnerSignInLink:
    """The link behind ``token`` if it can still be used (the page that shows the button)."""
    found = session.scalar(
        select(LearnerSignInLink).where(LearnerSignInLink.token_hash == digest(token))
    )
    if found is None or found.used_at is not None or found.expires_at <= utcnow():
        raise InvalidLink("this sign-in link is unknown, used or expired: ask for a new one")
    return found


@dataclass(frozen=True, slots=True)
class NewSession:
    learner_id: uuid.UUID
    organization_id: uuid.UUID
    token: str
    """The cookie value; exists only here and in the answer that sets the cookie."""
    csrf_token: str
    expires_at: datetime


def use_link(
    session: Session, token: str, policy: Policy, *, replaces: str | None = None
) -> NewSession:
    """Spend a sign-in link (once) and start a session; ends the session it replaces."""
    link = peek_link(session, token)
    now = utcnow()
    # Guarded: of two concurrent uses of one link, one signs in and the other is refused.
    used = session.execute(
        update(LearnerSignInLink)
        .where(LearnerSignInLink.id == link.id, LearnerSignInLink.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidLink("this sign-in link was just used: ask for a new one")
    person = session.scalar(
        select(Learner).where(
            Learner.organization_id == link.organization_id,
            Learner.id == link.learner_id,
            Learner.pseudonymised_at.is_(None),
        )
    )
    if person is None:
        raise InvalidLink("this sign-in link is unknown, used or expired: ask for a new one")
    if replaces:
        end_session(session, replaces)
    return start_session(session, person, method="email_link", policy=policy, now=now)


def start_session(
    session: Session, person: Learner, *, method: str, policy: Policy, now: datetime
) -> NewSession:
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    row = LearnerSession(
        organization_id=person.organization_id,
        learner_id=person.id,
        token_hash=digest(token),
        csrf_hash=digest(csrf),
        method=method,
        expires_at=now + policy.session_lifetime,
        last_seen_at=now,
        created_at=now,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        organization_id=person.organization_id,
        actor=f"{ACTOR_PREFIX}{person.id}",
        action="portal:learner:sign_in",
        target_type="learner",
        target_id=person.id,
        details={"method": method, "session": str(row.id)},
    )
    return NewSession(person.id, person.organization_id, token, csrf, row.expires_at)


def actor_for(organization_id: uuid.UUID, learner_id: uuid.UUID) -> Actor:
    """A signed-in learner: the ``learner`` role over their own live records only."""
    return Actor(
        name=f"{ACTOR_PREFIX}{learner_id}",
        organization_id=organization_id,
        livemode=True,
        roles=frozenset({Role.learner}),
        learner_id=learner_id,
    )


@dataclass(frozen=True, slots=True)
class Resolved:
    actor: Actor
    csrf_hash: str


def resolve(session: Session, token: str) -> Resolved:
    """The learner behind a session cookie; unknown, ended and expired sessions are one 401."""
    now = utcnow()
    row = session.scalar(select(LearnerSession).where(LearnerSession.token_hash == digest(token)))
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise Unauthorized("the learner session has ended: ask for a new sign-in link")
    erased = session.scalar(select(Learner.pseudonymised_at).where(Learner.id == row.learner_id))
    if erased is not None:
        raise Unauthorized("the learner session has ended: ask for a new sign-in link")
    if row.last_seen_at is None or (now - row.last_seen_at).total_seconds() > 60:
        session.execute(
            update(LearnerSession).where(LearnerSession.id == row.id).values(last_seen_at=now)
        )
    return Resolved(actor_for(row.organization_id, row.learner_id), row.csrf_hash)


def end_session(session: Session, token: str) -> None:
    session.execute(
        update(LearnerSession)
        .where(LearnerSession.token_hash == digest(token), LearnerSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def end_sessions(session: Session, organization_id: uuid.UUID, learner_id: uuid.UUID) -> int:
    """End every session of a learner (erasure, or an admin's request)."""
    result = session.execute(
        update(LearnerSession)
        .where(
            LearnerSession.organization_id == organization_id,
            LearnerSession.learner_id == learner_id,
            LearnerSession.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def csrf_matches(expected_hash: str, sent: str | None) -> bool:
    return sent is not None and secrets.compare_digest(expected_hash, digest(sent))


def organization_slug(session: Session, organization_id: uuid.UUID) -> str:
    return organizations.get(session, organization_id).slug


SSO_MARK = "portal:"
"""Prefix of ``OidcLogin.redirect_to`` for a learner's single sign-on (the provider calls back
to the one registered redirect URI; the mark says the login is a learner's)."""


def sign_in_sso(
    session: Session,
    organization_id: uuid.UUID,
    claims: dict[str, object],
    policy: Policy,
    *,
    replaces: str | None = None,
) -> NewSession:
    """A learner signed in through the organization's identity provider: the live, not-erased
    learner with the verified email the ID token names (the token was verified by
    ``auth.oidc.exchange``). No role mapping: learners are known by the organization's records."""
    email = claims.get("email")
    if not isinstance(email, str) or claims.get("email_verified") is False:
        raise InvalidLink("the identity provider sent no verified email")
    person = session.scalar(
        select(Learner)
        .where(
            Learner.organization_id == organization_id,
            Learner.livemode.is_(True),
            personal.where_email(crypto.ring_of(session), email.strip()),
            Learner.pseudonymised_at.is_(None),
        )
        .order_by(Learner.id)
        .limit(1)
    )
    if person is None:
        raise InvalidLink("no learner of this organization has this email")
    if replaces:
        end_session(session, replaces)
    return start_session(session, person, method="oidc", policy=policy, now=utcnow())


def has_sso(session: Session, organization_id: uuid.UUID) -> bool:
    from laurel.auth.models import OidcProvider  # noqa: PLC0415 - auth depends on this domain

    found = session.scalar(
        select(OidcProvider.id).where(OidcProvider.organization_id == organization_id)
    )
    return found is not None
