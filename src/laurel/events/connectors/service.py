"""Per-organization connector configuration: mapping options and rotating secrets.

Configuration is shared by live and test mode (like programs), so only live admin keys change
it; each secret says which mode's events it lets in. Every change is audited in the same
transaction as ``events:connector:<verb>``.
"""

from __future__ import annotations

import secrets as random
import uuid
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.events.connectors import registry
from laurel.events.connectors.mapping import ConnectorMapping
from laurel.events.connectors.models import ConnectorConfig, ConnectorSecret
from laurel.events.connectors.secretbox import SecretBox
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import Invalid, NotFound, field_error
from laurel.kit.validation import describe_errors

MIN_SECRET_LENGTH = 16


class SecretNotFound(NotFound):
    code = "connector_secret_not_found"


@dataclass(frozen=True, slots=True)
class CreatedSecret:
    row: ConnectorSecret
    secret: str
    """The plain secret: in this object and the answer that shows it once, nowhere else."""


@dataclass(frozen=True, slots=True)
class ActiveSecret:
    row: ConnectorSecret
    plain: str


def mapping_of(session: Session, organization_id: uuid.UUID, connector: str) -> ConnectorMapping:
    raw = session.scalar(
        select(ConnectorConfig.mapping).where(
            ConnectorConfig.organization_id == organization_id,
            ConnectorConfig.connector == connector,
        )
    )
    return ConnectorMapping.model_validate(raw or {})


def validate_mapping(connector: str, raw: object) -> ConnectorMapping:
    """Parse and check mapping options against what this connector offers."""
    source = registry.get(connector)
    try:
        mapping = ConnectorMapping.model_validate(raw)
    except ValidationError as exc:
        raise Invalid(describe_errors(exc.errors(), prefix="mapping")) from exc
    for option, offered in (
        ("learner_id", source.learner_keys),
        ("course_id", source.course_keys),
    ):
        chosen = getattr(mapping, option)
        if chosen is not None and chosen not in offered:
            raise field_error(
                f"mapping.{option}",
                f"{connector} offers {', '.join(offered)}; {chosen!r} is not one of them",
            )
    problem = source.options_problem(mapping.options)
    if problem is not None:
        raise field_error(f"mapping.{problem[0]}", problem[1])
    if (
        source.polled
        and mapping.base_url is not None
        and not mapping.base_url.startswith(("https://", "http://"))
    ):
        raise field_error("mapping.base_url", "give the API root as an http(s) URL")
    return mapping


def set_mapping(session: Session, actor: Actor, connector: str, raw: object) -> ConnectorMapping:
    mapping = validate_mapping(connector, raw)
    stored = mapping.model_dump(mode="json", exclude_defaults=True)
    config = session.scalar(
        select(ConnectorConfig)
        .where(
            ConnectorConfig.organization_id == actor.organization_id,
            ConnectorConfig.connector == connector,
        )
        .with_for_update()
    )
    before = dict(config.mapping) if config is not None else {}
    if config is None:
        config = ConnectorConfig(
            organization_id=actor.organization_id, connector=connector, mapping=stored
        )
        session.add(config)
    else:
        config.mapping = stored
    session.flush()
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="events:connector:update",
        target_type="connector",
        target_id=connector,
        details={"before": before, "after": stored},
    )
    return mapping


def list_secrets(
    session: Session, organization_id: uuid.UUID, connector: str
) -> list[ConnectorSecret]:
    return list(
        session.scalars(
            select(ConnectorSecret)
            .where(
                ConnectorSecret.organization_id == organization_id,
                ConnectorSecret.connector == connector,
            )
            .order_by(ConnectorSecret.id)
        )
    )


def add_secret(
    session: Session,
    actor: Actor,
    box: SecretBox,
    connector: str,
    *,
    livemode: bool,
    name: str = "",
    secret: str | None = None,
) -> CreatedSecret:
    """Add a secret beside the active ones (rotation: add, move the LMS over, retire the old).

    ``secret`` is for sources that generate their own (Cornerstone's security token, a
    TalentLMS API key); otherwise Laurel generates 256 random bits.
    """
    registry.get(connector)
    if secret is not None and len(secret) < MIN_SECRET_LENGTH:
        raise field_error("secret", f"use at least {MIN_SECRET_LENGTH} characters")
    plain = secret if secret is not None else f"whsec_{random.token_urlsafe(32)}"
    row = ConnectorSecret(
        organization_id=actor.organization_id,
        connector=connector,
        livemode=livemode,
        name=name,
        hint=plain[-4:],
        secret_encrypted=box.seal(plain),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="events:connector_secret:create",
        target_type="connector_secret",
        target_id=row.id,
        details={
            "connector": connector,
            "livemode": livemode,
            "name": name,
            "hint": row.hint,
            "generated": secret is None,
        },
    )
    return CreatedSecret(row, plain)


def retire_secret(
    session: Session, actor: Actor, connector: str, secret_id: uuid.UUID
) -> ConnectorSecret:
    """Stop accepting a secret. Retiring twice is harmless; an unknown one is a 404."""
    row = session.scalar(
        select(ConnectorSecret)
        .where(
            ConnectorSecret.organization_id == actor.organization_id,
            ConnectorSecret.connector == connector,
            ConnectorSecret.id == secret_id,
        )
        .with_for_update()
    )
    if row is None:
        raise SecretNotFound(f"no {connector} secret {secret_id}")
    if row.retired_at is None:
        row.retired_at = utcnow()
        audit.record(
            session,
            organization_id=actor.organization_id,
            actor=actor.name,
            action="events:connector_secret:retire",
            target_type="connector_secret",
            target_id=row.id,
            details={"connector": connector, "hint": row.hint},
        )
    return row


def active_secrets(
    session: Session,
    box: SecretBox,
    organization_id: uuid.UUID,
    connector: str,
    *,
    livemode: bool | None = None,
) -> list[ActiveSecret]:
    query = select(ConnectorSecret).where(
        ConnectorSecret.organization_id == organization_id,
        ConnectorSecret.connector == connector,
        ConnectorSecret.retired_at.is_(None),
    )
    if livemode is not None:
        query = query.where(ConnectorSecret.livemode == livemode)
    out: list[ActiveSecret] = []
    for row in session.scalars(query.order_by(ConnectorSecret.id)):
        plain = box.open(row.secret_encrypted)
        if plain is not None:
            out.append(ActiveSecret(row, plain))
    return out


def touch(session: Session, secret: ConnectorSecret) -> None:
    """Coarse last-used time: one write a minute per secret, not one per delivery."""
    now = utcnow()
    if secret.last_used_at is None or (now - secret.last_used_at).total_seconds() > 60:
        session.execute(
            update(ConnectorSecret).where(ConnectorSecret.id == secret.id).values(last_used_at=now)
        )
