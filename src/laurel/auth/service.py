"""API keys: ``lrl_<mode>_<random>``, shown once, stored as a SHA-256 hash.

Scopes: ``events:write`` (send completions), ``read`` (reads), ``admin`` (everything); what
each scope may call is the permission table's (``laurel.auth.permissions``). Keys may expire;
a rotation makes a replacement and lets the old key work until a chosen time.
A ``test`` key runs the whole pipeline on test-mode records against the sandbox provider.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.auth.models import ApiKey
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import Conflict, Forbidden, NotFound, Unauthorized, field_error


class Scope(StrEnum):
    events_write = "events:write"
    read = "read"
    admin = "admin"
    # Business roles a key acts with (approvals): until people sign in, a key stands for one.
    finance = "role:finance"
    compliance = "role:compliance"
    org_admin = "role:org_admin"


ALL_SCOPES = frozenset(Scope)


def roles_of(scopes: list[str] | frozenset[str]) -> frozenset[str]:
    """A key's business roles: its ``role:*`` scopes; an admin key is also ``org_admin``."""
    roles = {s.removeprefix("role:") for s in scopes if s.startswith("role:")}
    if Scope.admin in scopes:
        roles.add("org_admin")
    return frozenset(roles)


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key: ApiKey
    secret: str
    """The whole key. It exists only in this object and in the answer that shows it once."""


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(raw: list[str] | str) -> list[str]:
    items = [s.strip() for s in raw.split(",")] if isinstance(raw, str) else list(raw)
    items = [s for s in items if s]
    if not items:
        raise field_error("scopes", f"give at least one of {', '.join(sorted(ALL_SCOPES))}")
    unknown = sorted(set(items) - ALL_SCOPES)
    if unknown:
        raise field_error(
            "scopes", f"unknown scope(s) {', '.join(unknown)}; use {', '.join(sorted(ALL_SCOPES))}"
        )
    return sorted(set(items))


def create_key(
    session: Session,
    *,
    organization_id: uuid.UUID,
    scopes: list[str] | str,
    livemode: bool,
    actor: str,
    name: str = "",
    expires_at: datetime | None = None,
) -> CreatedKey:
    parsed = parse_scopes(scopes)
    if expires_at is not None and expires_at <= utcnow():
        raise field_error("expires_at", "give a time in the future")
    secret = f"lrl_{'live' if livemode else 'test'}_{secrets.token_urlsafe(24)}"
    key = ApiKey(
        organization_id=organization_id,
        name=name,
        prefix=secret[:13],
        key_hash=_hash(secret),
        scopes=parsed,
        livemode=livemode,
        expires_at=expires_at,
    )
    session.add(key)
    session.flush()
    audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="auth:apikey:create",
        target_type="api_key",
        target_id=key.id,
        details={
            "scopes": parsed,
            "livemode": livemode,
            "prefix": key.prefix,
            "name": name,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return CreatedKey(key=key, secret=secret)


def authenticate(session: Session, secret: str) -> Actor:
    """Resolve a bearer key to its actor; unknown and revoked keys are the same 401."""
    return resolve_key(session, secret).actor


@dataclass(frozen=True, slots=True)
class ResolvedKey:
    actor: Actor
    expires_at: datetime | None


def resolve_key(session: Session, secret: str) -> ResolvedKey:
    """The actor a key is and until when it works (caches must not outlive that)."""
    if not secret.startswith("lrl_"):
        raise Unauthorized("not a Laurel API key")
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == _hash(secret)))
    if key is None or key.revoked_at is not None:
        raise Unauthorized("unknown or revoked API key")
    now = utcnow()
    if key.expires_at is not None and key.expires_at <= now:
        raise Unauthorized("this API key has expired: use its replacement or create a new one")
    # Coarse last-used time: one write a minute per key instead of one per request.
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
    actor = Actor(
        name=f"apikey:{key.id}",
        organization_id=key.organization_id,
        livemode=key.livemode,
        scopes=frozenset(key.scopes),
        roles=roles_of(key.scopes),
    )
    return ResolvedKey(actor=actor, expires_at=key.expires_at)


def rotate(
    session: Session,
    *,
    organization_id: uuid.UUID,
    key_id: uuid.UUID,
    actor: str,
    overlap_until: datetime,
    livemode: bool | None = None,
) -> CreatedKey:
    """A new key with the same name, scopes and mode; the old one keeps working until
    ``overlap_until`` (a time from now on; now itself ends it at once), so clients can switch
    without an outage. The new key's secret is shown once, as at creation."""
    now = utcnow()
    if overlap_until < now - timedelta(seconds=5):
        raise field_error("overlap_until", "give a time from now on")
    query = select(ApiKey).where(ApiKey.organization_id == organization_id, ApiKey.id == key_id)
    if livemode is not None:
        query = query.where(ApiKey.livemode == livemode)
    old = session.scalar(query.with_for_update())
    if old is None:
        raise ApiKeyNotFound(f"no API key {key_id}")
    if old.revoked_at is not None or (old.expires_at is not None and old.expires_at <= now):
        raise Conflict("this key is revoked or expired: create a new key instead")
    if old.replaced_by_id is not None:
        raise Conflict(f"this key was already rotated to {old.replaced_by_id}")
    created = create_key(
        session,
        organization_id=organization_id,
        scopes=list(old.scopes),
        livemode=old.livemode,
        actor=actor,
        name=old.name,
    )
    old.replaced_by_id = created.key.id
    end = max(overlap_until, now)
    old.expires_at = end if old.expires_at is None else min(old.expires_at, end)
    audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="auth:apikey:rotate",
        target_type="api_key",
        target_id=old.id,
        details={
            "replaced_by": str(created.key.id),
            "old_key_expires_at": old.expires_at.isoformat(),
        },
    )
    return created


def require(actor: Actor, scope: Scope) -> None:
    if Scope.admin in actor.scopes or scope in actor.scopes:
        return
    raise Forbidden(f"this key lacks the {scope} scope")


class ApiKeyNotFound(NotFound):
    code = "api_key_not_found"


def list_keys(
    session: Session, *, organization_id: uuid.UUID, livemode: bool | None
) -> list[ApiKey]:
    query = select(ApiKey).where(ApiKey.organization_id == organization_id)
    if livemode is not None:
        query = query.where(ApiKey.livemode == livemode)
    return list(session.scalars(query.order_by(ApiKey.id)))


def revoke(
    session: Session,
    *,
    organization_id: uuid.UUID,
    key_id: uuid.UUID,
    actor: str,
    livemode: bool | None = None,
) -> None:
    """Revoke a key; revoking twice is harmless, an unknown key is a 404."""
    query = select(ApiKey).where(ApiKey.organization_id == organization_id, ApiKey.id == key_id)
    if livemode is not None:
        query = query.where(ApiKey.livemode == livemode)
    key = session.scalar(query.with_for_update())
    if key is None:
        raise ApiKeyNotFound(f"no API key {key_id}")
    if key.revoked_at is not None:
        return
    key.revoked_at = utcnow()
    audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="auth:apikey:revoke",
        target_type="api_key",
        target_id=key_id,
        details={"prefix": key.prefix},
    )
