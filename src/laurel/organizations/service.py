from __future__ import annotations

import re
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.kit import currency
from laurel.kit.errors import Conflict, NotFound, field_error
from laurel.organizations.models import Organization

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class OrganizationNotFound(NotFound):
    code = "organization_not_found"


def create(
    session: Session, *, slug: str, name: str, actor: str, default_currency: str = "USD"
) -> Organization:
    if not _SLUG.match(slug):
        raise field_error("slug", "use lowercase letters, digits and dashes (at most 63)")
    if not currency.is_known(default_currency):
        raise field_error("default_currency", f"{default_currency!r} is not an ISO 4217 code")
    if session.scalar(select(Organization.id).where(Organization.slug == slug)) is not None:
        raise Conflict(f"organization {slug!r} already exists")
    org = Organization(slug=slug, name=name, default_currency=default_currency)
    session.add(org)
    session.flush()
    audit.start_chain(session, org.id)
    audit.record(
        session,
        organization_id=org.id,
        actor=actor,
        action="organizations:organization:create",
        target_type="organization",
        target_id=org.id,
        details={"slug": slug, "name": name},
    )
    return org


def get_by_slug(session: Session, slug: str) -> Organization:
    org = session.scalar(select(Organization).where(Organization.slug == slug))
    if org is None:
        raise OrganizationNotFound(f"no organization {slug!r}")
    return org


def get(session: Session, organization_id: uuid.UUID) -> Organization:
    org = session.get(Organization, organization_id)
    if org is None:
        raise OrganizationNotFound(f"no organization {organization_id}")
    return org


def list_all(session: Session) -> list[Organization]:
    return list(session.scalars(select(Organization).order_by(Organization.slug)))
