"""Provider routing per program: which providers issue each reward kind, in order.

A program names one provider; a route overrides it for one reward kind with an ordered list
(gift cards from ``inventory`` then ``tango``, prepaid cards from ``tremendous``). The worker
tries the next provider only when the one before is down, and only after asking it whether it
issued after all (see :mod:`laurel.delivery.providers.routing`). Every provider an order was
sent to is recorded first (:class:`ProviderAttempt`), so a crash never forgets one.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.delivery.models import ProviderAttempt, ProviderRoute
from laurel.delivery.providers import OWN_CHANNELS
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import Invalid
from laurel.kit.ids import uuid7
from laurel.kit.sql import insert_ignore
from laurel.organizations import revision
from laurel.programs import service as programs
from laurel.programs.models import RewardKind

Routes = dict[tuple[uuid.UUID, str], tuple[str, ...]]
"""(program id, reward kind) -> provider names, first choice first."""


def routes_for(
    session: Session, organization_id: uuid.UUID, program_ids: Iterable[uuid.UUID]
) -> Routes:
    ids = set(program_ids)
    if not ids:
        return {}
    return {key: names for key, names in _all_routes(session, organization_id) if key[0] in ids}


def _all_routes(
    session: Session, organization_id: uuid.UUID
) -> tuple[tuple[tuple[uuid.UUID, str], tuple[str, ...]], ...]:
    """Every route of the organization, read once per configuration change."""

    def build() -> tuple[tuple[tuple[uuid.UUID, str], tuple[str, ...]], ...]:
        rows = session.execute(
            select(
                ProviderRoute.program_id, ProviderRoute.reward_kind, ProviderRoute.providers
            ).where(ProviderRoute.organization_id == organization_id)
        )
        return tuple(((program_id, kind), tuple(names)) for program_id, kind, names in rows)

    return revision.shared(session, organization_id, "delivery.routes", build)


def resolve(
    routes: Routes, program_id: uuid.UUID, reward_kind: str, provider: str, *, livemode: bool
) -> tuple[str, ...]:
    """The providers to try for one reward. Test mode never leaves the sandbox; a link reward
    goes to the link channel in both modes (it pays nothing itself, and the learner's choice
    goes to the sandbox in test mode)."""
    if provider in OWN_CHANNELS:
        return (provider,)
    if not livemode:
        return ("sandbox",)
    return routes.get((program_id, reward_kind)) or (provider,)


def get_routes(session: Session, actor: Actor, program_id: uuid.UUID) -> dict[str, list[str]]:
    programs.get(session, actor, program_id)
    found = routes_for(session, actor.organization_id, [program_id])
    return {kind: list(names) for (_, kind), names in sorted(found.items())}


def set_routes(
    session: Session,
    actor: Actor,
    program_id: uuid.UUID,
    routes: dict[str, list[str]],
    configured: Collection[str],
) -> dict[str, list[str]]:
    """Replace the program's routes (a kind left out goes back to the program's provider)."""
    programs.get(session, actor, program_id)
    problems: list[dict[str, Any]] = []
    kinds = {k.value for k in RewardKind}
    for kind, names in routes.items():
        where = f"routes.{kind}"
        if kind not in kinds:
            problems.append(_problem(where, f"unknown reward kind; use one of {sorted(kinds)}"))
            continue
        if not names:
            problems.append(_problem(where, "name at least one provider"))
        for n, name in enumerate(names):
            if name not in configured:
                problems.append(
                    _problem(
                        f"{where}.{n}",
                        f"no provider {name!r} is configured; configured: {sorted(configured)}",
                    )
                )
            elif name == "sandbox":
                problems.append(_problem(f"{where}.{n}", "the sandbox is for test mode only"))
        if len(set(names)) != len(names):
            problems.append(_problem(where, "a provider is named twice"))
    if problems:
        raise Invalid(problems)
    session.execute(
        delete(ProviderRoute).where(
            ProviderRoute.organization_id == actor.organization_id,
            ProviderRoute.program_id == program_id,
        )
    )
    now = utcnow()
    for kind, names in sorted(routes.items()):
        session.add(
            ProviderRoute(
                id=uuid7(),
                organization_id=actor.organization_id,
                program_id=program_id,
                reward_kind=kind,
                providers=list(names),
                created_at=now,
                updated_at=now,
                updated_by=actor.name,
            )
        )
    session.flush()
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="delivery:routes:update",
        target_type="program",
        target_id=program_id,
        details={"routes": routes},
    )
    return {kind: list(names) for kind, names in sorted(routes.items())}


def _problem(field: str, message: str) -> dict[str, Any]:
    return {"field": field, "message": message, "type": "value_error"}


def note_attempt(
    session: Session, organization_id: uuid.UUID, reward_id: uuid.UUID, provider: str
) -> None:
    """Record that ``provider`` may receive this reward's order (before sending it)."""
    insert_ignore(
        session,
        ProviderAttempt.__table__,  # type: ignore[arg-type]
        {
            "id": uuid7(),
            "organization_id": organization_id,
            "reward_id": reward_id,
            "provider": provider,
            "created_at": utcnow(),
        },
        ["reward_id", "provider"],
    )


def forget_attempt(session: Session, reward_id: uuid.UUID, provider: str) -> None:
    """The order never reached ``provider`` (no connection): nothing to ask it later."""
    session.execute(
        delete(ProviderAttempt).where(
            ProviderAttempt.reward_id == reward_id, ProviderAttempt.provider == provider
        )
    )


def attempted(session: Session, reward_id: uuid.UUID) -> list[str]:
    """Providers this reward's order was (maybe) sent to, first one first."""
    return list(
        session.scalars(
            select(ProviderAttempt.provider)
            .where(ProviderAttempt.reward_id == reward_id)
            .order_by(ProviderAttempt.created_at, ProviderAttempt.id)
        )
    )
