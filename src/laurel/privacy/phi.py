"""Protected health information (HIPAA): kept apart, encrypted, every access audited.

Only an organization flagged HIPAA (``laurel org hipaa SLUG --on``) stores PHI. Fields live in
``phi_records``, one row per learner and field, never on the learner's row or in events, so
no list, report or export shows them by accident; reads go through :func:`read`, which audits
each one (``privacy:phi:read``, with the field names) in the same unit of work.
"""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.kit.actor import Actor
from laurel.kit.crypto import KeyRing
from laurel.kit.errors import Conflict, field_error
from laurel.learners import service as learners
from laurel.organizations import service as organizations
from laurel.privacy.models import PHI_VALUE, PhiRecord

_FIELD = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class NotHipaa(Conflict):
    code = "organization_not_hipaa"


def set_hipaa(session: Session, organization_id: uuid.UUID, *, enabled: bool, actor: str) -> None:
    organization = organizations.get(session, organization_id)
    if organization.hipaa == enabled:
        return
    organization.hipaa = enabled
    audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action=f"privacy:hipaa:{'enable' if enabled else 'disable'}",
        target_type="organization",
        target_id=organization_id,
    )


def write(
    session: Session,
    actor: Actor,
    ring: KeyRing,
    learner_id: uuid.UUID,
    fields: dict[str, str | None],
) -> list[str]:
    """Set (or, with None, remove) PHI fields; answers the field names changed."""
    if not organizations.get(session, actor.organization_id).hipaa:
        raise NotHipaa("this organization is not flagged HIPAA: it keeps no PHI")
    learner = learners.get(session, actor, learner_id)
    for name in fields:
        if not _FIELD.match(name):
            raise field_error(name, "PHI field names are lower_snake_case, at most 64")
    existing = {
        r.field: r
        for r in session.scalars(
            select(PhiRecord).where(
                PhiRecord.organization_id == actor.organization_id,
                PhiRecord.learner_id == learner.id,
            )
        )
    }
    for name, value in fields.items():
        if value is None:
            if name in existing:
                session.delete(existing[name])
            continue
        sealed = ring.encrypt(value, PHI_VALUE.context)
        if name in existing:
            existing[name].value_encrypted = sealed
        else:
            session.add(
                PhiRecord(
                    organization_id=actor.organization_id,
                    learner_id=learner.id,
                    field=name,
                    value_encrypted=sealed,
                )
            )
    session.flush()
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="privacy:phi:write",
        target_type="learner",
        target_id=learner.id,
        details={"fields": sorted(fields)},
    )
    return sorted(fields)


def read(session: Session, actor: Actor, ring: KeyRing, learner_id: uuid.UUID) -> dict[str, str]:
    """A learner's PHI; the read is audited whether or not anything is found."""
    learner = learners.get(session, actor, learner_id)
    rows = session.scalars(
        select(PhiRecord)
        .where(
            PhiRecord.organization_id == actor.organization_id,
            PhiRecord.learner_id == learner.id,
        )
        .order_by(PhiRecord.field)
    )
    values = {r.field: ring.decrypt(r.value_encrypted, PHI_VALUE.context) for r in rows}
    audit.sensitive_read(
        session, actor, "privacy:phi", "learner", learner.id, {"fields": sorted(values)}
    )
    return values
