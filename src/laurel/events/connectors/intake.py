"""Webhook intake: resolve the organization, verify the sender, map, store; dead-letter the rest.

Who gets a 4xx: only a sender that can fix the problem itself — a wrong URL (404), missing or
wrong credentials (401, and nothing is stored: an unverified body is nobody's data), a body too
large (413). Everything after verification that goes wrong is the LMS's data meeting our
mapping; the LMS cannot change it, so the answer is 202 and the delivery is kept as a dead
letter with the exact reason, replayable once the mapping is fixed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from laurel.audit import service as audit
from laurel.events import service as events
from laurel.events.connectors import registry
from laurel.events.connectors import service as config
from laurel.events.connectors.base import (
    Connector,
    Ignored,
    Incoming,
    Mapped,
    Unmapped,
    UnreadableBody,
)
from laurel.events.connectors.mapping import ConnectorMapping
from laurel.events.connectors.models import DeadLetter, DeadLetterState
from laurel.events.connectors.secretbox import SecretBox
from laurel.events.models import CompletionEvent
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import AppError, Conflict, NotFound, Unauthorized
from laurel.kit.pagination import Page, paginate
from laurel.learners import sealing
from laurel.organizations import service as organizations


class DeadLetterNotFound(NotFound):
    code = "dead_letter_not_found"


class DeadLetterResolved(Conflict):
    code = "dead_letter_resolved"


class NotPushed(NotFound):
    code = "connector_not_pushed"


@dataclass
class Outcome:
    """What one delivery (or one replay of it) produced."""

    accepted: int = 0
    replayed: int = 0
    ignored: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    reason: str | None = None
    dead_letter: DeadLetter | None = None


def _authenticate(
    session: Session, box: SecretBox, connector: Connector, org_id: uuid.UUID, incoming: Incoming
) -> config.ActiveSecret:
    candidates = config.active_secrets(session, box, org_id, connector.name)
    presented_any = False
    for check in connector.accepts:
        presented = check.presented(incoming)
        if presented is None:
            continue
        presented_any = True
        found: config.ActiveSecret | None = None
        # Compare against every secret, without stopping early, so timing says nothing.
        for candidate in candidates:
            if check.matches(presented, candidate.plain, incoming) and found is None:
                found = candidate
        if found is not None:
            return found
    if not candidates:
        raise Unauthorized(f"no active {connector.name} secret is configured for this organization")
    if not presented_any:
        accepted = "; ".join(c.label for c in connector.accepts)
        raise Unauthorized(f"send credentials {connector.name} accepts: {accepted}")
    raise Unauthorized("the credentials or signature match no active secret")


def _kept(connector: Connector, incoming: Incoming) -> tuple[dict[str, str], dict[str, str]]:
    secret_headers = {c.secret_fields()[0] for c in connector.accepts}
    secret_query = {c.secret_fields()[1] for c in connector.accepts}
    headers = {
        k: v
        for k, v in incoming.headers.items()
        if k in connector.kept_headers and k not in secret_headers
    }
    query = {k: v for k, v in incoming.query.items() if k not in secret_query and k != "org"}
    return headers, query


def process(
    session: Session,
    actor: Actor,
    connector: Connector,
    incoming: Incoming,
    *,
    stored_before: frozenset[str] = frozenset(),
    mapping: ConnectorMapping | None = None,
) -> Outcome:
    """Map a verified delivery and store what maps; collect exactly what did not.

    ``stored_before`` holds source event ids a replayed letter already produced: a changed
    mapping would map them differently and conflict, so they are left as they were stored.
    """
    outcome = Outcome()
    if mapping is None:
        mapping = config.mapping_of(session, actor.organization_id, connector.name)
    try:
        results = connector.parse(incoming, mapping)
    except UnreadableBody as exc:
        outcome.reason = "unreadable_body"
        outcome.errors.append({"index": None, "field": "(body)", "message": exc.message})
        return outcome
    already = [r for r in results if isinstance(r, Mapped) and r.item.event_id in stored_before]
    mapped = [r for r in results if isinstance(r, Mapped) and r not in already]
    answers = events.ingest_many(
        session,
        actor,
        [m.item for m in mapped],
        source=connector.name,
        payloads=[m.payload for m in mapped],
    )
    by_index: dict[int, dict[str, Any]] = {}
    for item, answer in zip(mapped, answers, strict=True):
        if isinstance(answer, AppError):
            outcome.reason = outcome.reason or "refused"
            error = {
                "index": item.index,
                "field": _field_of(answer),
                "message": f"{answer.code}: {_message_of(answer)}",
            }
            outcome.errors.append(error)
            by_index[item.index] = {"index": item.index, "status": "dead_letter", **error}
            continue
        if answer.replayed:
            outcome.replayed += 1
        else:
            outcome.accepted += 1
        outcome.event_ids.append(str(answer.event.id))
        by_index[item.index] = {
            "index": item.index,
            "status": "replayed" if answer.replayed else "accepted",
            "event_id": str(answer.event.id),
            "source_event_id": answer.event.source_event_id,
            "outcome": answer.event.outcome,
            "rewards": [str(r.id) for r in answer.rewards],
        }
    for item in already:
        outcome.replayed += 1
        by_index[item.index] = {
            "index": item.index,
            "status": "replayed",
            "source_event_id": item.item.event_id,
        }
    for result in results:
        if isinstance(result, Unmapped):
            outcome.reason = "unmapped"
            outcome.errors.append(result.to_json())
            by_index[result.index] = {"status": "dead_letter", **result.to_json()}
        elif isinstance(result, Ignored):
            outcome.ignored += 1
            by_index[result.index] = {
                "index": result.index,
                "status": "ignored",
                "reason": result.reason,
            }
    outcome.results = [by_index[i] for i in sorted(by_index)]
    return outcome


def _field_of(error: AppError) -> str:
    if isinstance(error.detail, list) and error.detail and isinstance(error.detail[0], dict):
        return str(error.detail[0].get("field", "(event)"))
    return "(event)"


def _message_of(error: AppError) -> str:
    if isinstance(error.detail, list) and error.detail and isinstance(error.detail[0], dict):
        return str(error.detail[0].get("message", error.detail))
    return str(error.detail)


def _summary(outcome: Outcome) -> str:
    first = outcome.errors[0]
    where = f"event {first['index']}: " if first.get("index") is not None else ""
    more = f" (and {len(outcome.errors) - 1} more)" if len(outcome.errors) > 1 else ""
    return f"{where}{first['field']}: {first['message']}{more}"


def body_of(letter: DeadLetter) -> bytes:
    """The body as received, opened (empty once retention or an erasure emptied it)."""
    session = object_session(letter)
    assert session is not None, "a dead letter is read inside its unit of work"
    found = sealing.readable(session, sealing.DEAD_LETTER_BODY, letter.body_sealed, letter.body)
    return bytes(found or b"")


def keep(
    session: Session, actor: Actor, connector: Connector, incoming: Incoming, outcome: Outcome
) -> DeadLetter:
    """Store a delivery that did not fully go through, with the exact reasons, for replay."""
    headers, query = _kept(connector, incoming)
    letter = DeadLetter(
        organization_id=actor.organization_id,
        connector=connector.name,
        livemode=actor.livemode,
        state=DeadLetterState.open,
        reason=outcome.reason or "unmapped",
        message=_summary(outcome),
        errors=outcome.errors,
        body=b"",
        # No learner is known for a delivery that could not be mapped: sealed under the ring.
        body_sealed=sealing.seal(
            session,
            actor.organization_id,
            sealing.DEAD_LETTER_BODY,
            None,
            connector.redact(incoming.body),
        ),
        headers=headers,
        query=query,
        event_ids=outcome.event_ids,
    )
    session.add(letter)
    session.flush()
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="events:dead_letter:create",
        target_type="dead_letter",
        target_id=letter.id,
        details={"connector": connector.name, "reason": letter.reason, "livemode": actor.livemode},
    )
    return letter


def receive(
    session: Session,
    box: SecretBox,
    *,
    connector_name: str,
    organization: str,
    incoming: Incoming,
) -> Outcome:
    """One webhook delivery: verify, then store events and, for what failed, a dead letter."""
    connector = registry.get(connector_name)
    if connector.polled:
        raise NotPushed(f"{connector.name} is polled by Laurel; it has no webhook endpoint")
    org = organizations.get_by_slug(session, organization)
    secret = _authenticate(session, box, connector, org.id, incoming)
    mapping = config.mapping_of(session, org.id, connector.name)
    if incoming.body.strip():
        # Before any write: a body signature may need the source's keys fetched (Canvas JWKS),
        # and no write lock may be held while waiting on the network.
        problem = connector.check_body(incoming, mapping)
        if problem is not None:
            raise Unauthorized(problem)
    config.touch(session, secret.row)
    actor = Actor(
        name=f"webhook:{connector.name}:{secret.row.id}",
        organization_id=org.id,
        livemode=secret.row.livemode,
        scopes=frozenset({"events:write"}),
    )
    if not incoming.body.strip():
        # Verification pings (Cornerstone checks an endpoint before use) carry no event.
        return Outcome()
    outcome = process(session, actor, connector, incoming, mapping=mapping)
    if outcome.reason is not None:
        outcome.dead_letter = keep(session, actor, connector, incoming, outcome)
    return outcome


def _letter(
    session: Session, actor: Actor, letter_id: uuid.UUID, *, lock: bool = False
) -> DeadLetter:
    query = select(DeadLetter).where(
        DeadLetter.organization_id == actor.organization_id,
        DeadLetter.livemode == actor.livemode,
        DeadLetter.id == letter_id,
    )
    found = session.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise DeadLetterNotFound(f"no dead letter {letter_id}")
    return found


def get(session: Session, actor: Actor, letter_id: uuid.UUID) -> DeadLetter:
    return _letter(session, actor, letter_id)


def list_letters(
    session: Session,
    actor: Actor,
    *,
    connector: str | None = None,
    state: DeadLetterState | None = None,
    limit: int = 50,
    cursor: uuid.UUID | None = None,
) -> Page[DeadLetter]:
    query = select(DeadLetter).where(
        DeadLetter.organization_id == actor.organization_id,
        DeadLetter.livemode == actor.livemode,
    )
    if connector is not None:
        query = query.where(DeadLetter.connector == connector)
    if state is not None:
        query = query.where(DeadLetter.state == state)
    return paginate(session, query, DeadLetter.id, limit=limit, cursor=cursor)


def replay(session: Session, actor: Actor, letter_id: uuid.UUID) -> Outcome:
    """Run a kept delivery through today's mapping. It was verified when it arrived.

    Events it already produced answer as replays (their ids are stable), so replaying twice,
    or replaying a partly stored delivery, pays nothing twice. The letter is resolved when
    every event in it went through (or was ignored); otherwise it stays open with the new
    reason.
    """
    letter = _letter(session, actor, letter_id, lock=True)
    if letter.state == DeadLetterState.resolved:
        raise DeadLetterResolved(f"dead letter {letter_id} was already replayed successfully")
    connector = registry.get(letter.connector)
    incoming = Incoming(body=body_of(letter), headers=letter.headers, query=letter.query)
    as_sender = Actor(
        name=actor.name,
        organization_id=letter.organization_id,
        livemode=letter.livemode,
        scopes=frozenset({"events:write"}),
    )
    produced = frozenset(
        session.scalars(
            select(CompletionEvent.source_event_id).where(
                CompletionEvent.organization_id == letter.organization_id,
                CompletionEvent.id.in_([uuid.UUID(str(e)) for e in letter.event_ids]),
            )
        )
    )
    outcome = process(session, as_sender, connector, incoming, stored_before=produced)
    now = utcnow()
    letter.replays += 1
    letter.last_replayed_at = now
    letter.event_ids = sorted(set(letter.event_ids) | set(outcome.event_ids))
    if outcome.reason is None:
        letter.state = DeadLetterState.resolved
        letter.resolved_at = now
    else:
        letter.reason = outcome.reason
        letter.message = _summary(outcome)
        letter.errors = outcome.errors
    audit.record(
        session,
        organization_id=letter.organization_id,
        actor=actor.name,
        action="events:dead_letter:replay",
        target_type="dead_letter",
        target_id=letter.id,
        details={
            "connector": letter.connector,
            "state": letter.state,
            "accepted": outcome.accepted,
            "replayed": outcome.replayed,
            "errors": len(outcome.errors),
        },
    )
    outcome.dead_letter = letter
    return outcome


def open_letter_ids(
    session: Session,
    organization_id: uuid.UUID,
    *,
    livemode: bool,
    connector: str | None = None,
) -> list[uuid.UUID]:
    query = select(DeadLetter.id).where(
        DeadLetter.organization_id == organization_id,
        DeadLetter.livemode == livemode,
        DeadLetter.state == DeadLetterState.open,
    )
    if connector is not None:
        query = query.where(DeadLetter.connector == connector)
    return list(session.scalars(query.order_by(DeadLetter.id)))
