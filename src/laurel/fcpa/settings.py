"""Each organization's FCPA limits: read by the gate, changed by compliance, every change
audited.

An organization without its own row uses the deployment's defaults
(``LAUREL_FCPA_EVENT_LIMIT_USD``, 250.00, and ``LAUREL_FCPA_YEARLY_LIMIT_USD``, 1000.00). Both
limits are money in one currency (minor units + ISO 4217 code); the gate compares rewards with
them at the ECB rate of each reward's day.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.config import get_settings
from laurel.fcpa.models import FcpaSettings
from laurel.kit import currency
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import Invalid
from laurel.kit.ids import uuid7
from laurel.kit.money import Money
from laurel.kit.sql import insert_ignore
from laurel.organizations import revision

USD = "USD"


@dataclass(frozen=True, slots=True)
class Policy:
    event_limit: Money
    yearly_limit: Money
    custom: bool = False
    """True when the organization set its own limits (False: the deployment's defaults)."""

    @property
    def currency(self) -> str:
        return self.event_limit.currency

    @classmethod
    def from_settings(cls) -> Policy:
        settings = get_settings()
        return cls(
            Money.parse(settings.fcpa_event_limit_usd, USD),
            Money.parse(settings.fcpa_yearly_limit_usd, USD),
        )


def _of(row: FcpaSettings) -> Policy:
    return Policy(
        Money(row.event_limit_minor, row.currency),
        Money(row.yearly_limit_minor, row.currency),
        custom=True,
    )


def _row(session: Session, organization_id: uuid.UUID) -> FcpaSettings | None:
    return session.scalar(
        select(FcpaSettings).where(FcpaSettings.organization_id == organization_id)
    )


def policy(session: Session, organization_id: uuid.UUID) -> Policy:
    """The organization's limits (its own, or the defaults); read once per configuration
    change (``organizations.revision``: a trigger on ``fcpa_settings`` marks every change)."""

    def build() -> Policy:
        row = _row(session, organization_id)
        return _of(row) if row is not None else Policy.from_settings()

    return revision.shared(session, organization_id, "fcpa.policy", build)


def _problems(
    event_limit: Money | None, yearly_limit: Money | None, current: Policy
) -> list[dict[str, str]]:
    bad: list[dict[str, str]] = []

    def fail(field: str, message: str) -> None:
        bad.append({"field": field, "message": message, "type": "value_error"})

    for name, value in (("event_limit", event_limit), ("yearly_limit", yearly_limit)):
        if value is None:
            continue
        if value.currency == currency.POINTS or not currency.is_known(value.currency):
            fail(f"{name}.currency", f"{value.currency!r} is not an ISO 4217 currency")
        if value.minor < 0:
            fail(f"{name}.amount", "must not be negative")
    if event_limit is not None and yearly_limit is not None:
        if event_limit.currency != yearly_limit.currency:
            fail("yearly_limit.currency", "both limits are in one currency")
    elif event_limit is not None and event_limit.currency != current.currency:
        fail(
            "event_limit.currency",
            f"the limits are in {current.currency}; send both limits to change the currency",
        )
    elif yearly_limit is not None and yearly_limit.currency != current.currency:
        fail(
            "yearly_limit.currency",
            f"the limits are in {current.currency}; send both limits to change the currency",
        )
    return bad


def update(
    session: Session,
    actor: Actor,
    *,
    event_limit: Money | None = None,
    yearly_limit: Money | None = None,
) -> Policy:
    """Set the organization's limits (a limit left out keeps its value); every bad field is
    named in one 422. Audited as ``fcpa:settings:update`` with the limits before and after."""
    before = policy(session, actor.organization_id)
    bad = _problems(event_limit, yearly_limit, before)
    if bad:
        raise Invalid(bad)
    now = utcnow()
    # The first change writes the row from the defaults; later ones update it (locked, so two
    # compliance officers changing one limit each keep both changes).
    insert_ignore(
        session,
        FcpaSettings.__table__,  # type: ignore[arg-type]
        {
            "id": uuid7(),
            "organization_id": actor.organization_id,
            "currency": before.currency,
            "event_limit_minor": before.event_limit.minor,
            "yearly_limit_minor": before.yearly_limit.minor,
            "updated_by": actor.name,
            "created_at": now,
            "updated_at": now,
        },
        ["organization_id"],
    )
    row = session.scalar(
        select(FcpaSettings)
        .where(FcpaSettings.organization_id == actor.organization_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    previous = _of(row)
    event = event_limit if event_limit is not None else previous.event_limit
    yearly = yearly_limit if yearly_limit is not None else previous.yearly_limit
    if event.currency != yearly.currency:  # someone changed the currency meanwhile
        raise Invalid(_problems(event_limit, yearly_limit, previous))
    row.currency = event.currency
    row.event_limit_minor = event.minor
    row.yearly_limit_minor = yearly.minor
    row.updated_by = actor.name
    row.updated_at = now
    session.flush()
    after = _of(row)
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="fcpa:settings:update",
        target_type="fcpa_settings",
        target_id=row.id,
        details={
            "before": {
                "event_limit": str(previous.event_limit),
                "yearly_limit": str(previous.yearly_limit),
            },
            "after": {
                "event_limit": str(after.event_limit),
                "yearly_limit": str(after.yearly_limit),
            },
        },
    )
    return after
