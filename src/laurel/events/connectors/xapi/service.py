"""Storing statements, turning them into completions, and voiding.

One call stores a whole request (one statement or an array) in the caller's unit of work: every
statement is validated first, and any failure refuses the request before anything is written,
so no statement of a failed batch is kept. Statement ids are idempotency keys (unique per
organization and mode): the same id with the same content is a replay and changes nothing;
with other content it is a conflict. Completions go through ``events.service.ingest_many``
with source ``xapi`` and the statement id as the event id, so the completion pipeline's own
idempotency holds as well.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session, object_session

from laurel.audit import service as audit
from laurel.events import service as events
from laurel.events.connectors.xapi import cmi5, mapping
from laurel.events.connectors.xapi.attachments import Part, seal_form
from laurel.events.connectors.xapi.models import ReviewState, XapiReview, XapiStatement
from laurel.events.connectors.xapi.validation import (
    VOIDED,
    Problem,
    check_statement,
    is_voiding,
)
from laurel.events.models import Outcome
from laurel.events.schemas import CompletionIn
from laurel.kit.actor import Actor
from laurel.kit.canonical import canonical_json, sha256_hex
from laurel.kit.clock import utcnow
from laurel.kit.errors import AppError, Conflict
from laurel.kit.ids import uuid7
from laurel.kit.observe import chunks
from laurel.kit.pagination import Page, paginate
from laurel.kit.sql import insert_ignore, insert_rows, read_rows
from laurel.learners import sealing
from laurel.rewards import service as rewards
from laurel.rewards.models import Reward, RewardState

SOURCE = "xapi"
# Fields the LRS sets: a client resending a statement it read back may carry them.
_LRS_FIELDS = frozenset({"stored", "authority", "version"})
_CANCELLABLE = frozenset({RewardState.pending, RewardState.held, RewardState.ready})
_REVIEWABLE = frozenset({RewardState.issuing, RewardState.delivered, RewardState.redeemed})


class StatementInvalid(AppError):
    status = 400
    code = "invalid_statement"


class StatementConflict(Conflict):
    code = "statement_conflict"


@dataclass
class _New:
    index: int
    statement_id: uuid.UUID
    statement: dict[str, Any]
    digest: str
    reading: mapping.Reading | None = None
    event_id: uuid.UUID | None = None
    learner_id: uuid.UUID | None = None
    """The learner of the completion it became: the statement is sealed under their key."""
    notes: list[str] = field(default_factory=list)
    voided_by: uuid.UUID | None = None
    """A voiding statement stored before this one arrived: it is stored voided, never paid."""
    parts: list[Part] = field(default_factory=list)
    """Its attachments' content from a multipart request (kept sealed with it)."""


def digest_of(statement: dict[str, Any]) -> str:
    return sha256_hex(canonical_json({k: v for k, v in statement.items() if k not in _LRS_FIELDS}))


def validate(statements: Sequence[Any], version: str = "1.0.3") -> None:
    """Refuse the whole request when any statement breaks a rule of ``version`` (the request's
    X-Experience-API-Version): 400, every problem named."""
    problems: list[dict[str, Any]] = []
    multiple = len(statements) > 1
    for index, statement in enumerate(statements):
        found = check_statement(statement, version=version)
        if not found and not is_voiding(statement):
            verb = statement["verb"]["id"]
            if cmi5.is_defined(statement) and (reason := cmi5.mastery_problem(statement, verb)):
                found = [Problem("result.score.scaled", reason)]
        problems.extend(p.to_json(index if multiple else None) for p in found)
    if problems:
        raise StatementInvalid(problems)


def assign_ids(statements: list[dict[str, Any]]) -> list[uuid.UUID]:
    """Give statements without an id one (the LRS's job), refuse an id sent twice."""
    ids: list[uuid.UUID] = []
    seen: set[uuid.UUID] = set()
    for index, statement in enumerate(statements):
        if "id" not in statement:
            statement["id"] = str(uuid.uuid4())
        statement_id = uuid.UUID(statement["id"])
        if statement_id in seen:
            raise StatementInvalid(
                [{"statement": index, "field": "id", "message": "the same id twice in one batch"}]
            )
        seen.add(statement_id)
        ids.append(statement_id)
    return ids


def store(
    session: Session,
    actor: Actor,
    statements: list[dict[str, Any]],
    parts: list[list[Part]] | None = None,
) -> tuple[list[uuid.UUID], list[events.Intake]]:
    """Store validated statements (ids assigned); answer their ids and the new completions.

    ``parts``: each statement's attachment content (``attachments.check``), from a multipart
    request; a replayed statement keeps what it was stored with."""
    ids = [uuid.UUID(s["id"]) for s in statements]
    existing = _existing(session, actor, ids)
    fresh: list[_New] = []
    for index, (statement_id, statement) in enumerate(zip(ids, statements, strict=True)):
        digest = digest_of(statement)
        known = existing.get(statement_id)
        if known is not None:
            if known != digest:
                raise _conflict(statement_id)
            continue
        own = parts[index] if parts is not None else []
        fresh.append(_New(index, statement_id, statement, digest, parts=own))
    if not fresh:
        return ids, []
    now = utcnow()
    _check_voiding_targets(session, actor, fresh)
    early = _voided_before(session, actor, fresh)
    for item in fresh:
        if item.statement_id in early:
            item.voided_by = early[item.statement_id]
        elif not is_voiding(item.statement):
            item.reading = mapping.read(item.statement, stored_at=now)
    _apply_move_on(session, actor, fresh)
    intakes = _ingest(session, actor, fresh)
    _insert(session, actor, fresh, now)
    for item in fresh:
        if is_voiding(item.statement):
            _void(session, actor, item)
        elif item.voided_by is not None:
            audit.record(
                session,
                organization_id=actor.organization_id,
                actor=actor.name,
                action="xapi:statement:void",
                target_type="xapi_statement",
                target_id=str(item.statement_id),
                details={
                    "voided": str(item.statement_id),
                    "voiding": str(item.voided_by),
                    "result": "voided on arrival",
                },
            )
    return ids, intakes


@dataclass(frozen=True, slots=True)
class Stored:
    """What one request's statements became: their ids, in order, and the new completions."""

    ids: list[uuid.UUID]
    intakes: list[events.Intake]


def store_requests(
    session: Session, actor: Actor, requests: list[list[dict[str, Any]]]
) -> list[Stored]:
    """Several requests' statements in one transaction (group commit of single statements).

    When no statement id repeats across them they go through :func:`store` as one list, so the
    whole group costs one set-based pass; otherwise one request after the other, each seeing
    what the ones before it stored. A request that is refused raises: nothing of the group is
    kept, and the caller stores each request on its own (every request is all or nothing, and
    its error names its own statements).
    """
    ids = [[uuid.UUID(s["id"]) for s in statements] for statements in requests]
    flat_ids = [i for request in ids for i in request]
    if len(requests) == 1 or len(set(flat_ids)) != len(flat_ids):
        return [Stored(*store(session, actor, statements)) for statements in requests]
    _, intakes = store(session, actor, [s for statements in requests for s in statements])
    owner = {str(i): n for n, request in enumerate(ids) for i in request}
    mine: list[list[events.Intake]] = [[] for _ in requests]
    for intake in intakes:
        mine[owner[intake.event.source_event_id]].append(intake)
    return [Stored(request, found) for request, found in zip(ids, mine, strict=True)]


def statement_of(row: XapiStatement) -> dict[str, Any]:
    """The statement as stored, opened (``{"erased": true}`` once its learner's key is gone)."""
    session = object_session(row)
    assert session is not None, "a stored statement is read inside its unit of work"
    found = sealing.readable(session, sealing.XAPI_STATEMENT, row.statement_sealed, row.statement)
    return found if found is not None else {"erased": True}


def _existing(session: Session, actor: Actor, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    return dict(_rows_for(session, actor, _existing_sql(), ids))


def _rows_for(session: Session, actor: Actor, statement: Any, values: Sequence[Any]) -> list[Any]:
    """``statement`` (built with ``_org``, ``_live`` and an expanding ``_in``) for every value,
    a chunk at a time."""
    found: list[Any] = []
    for part in chunks(values):
        params = {"_org": actor.organization_id, "_live": actor.livemode, "_in": part}
        found.extend(read_rows(session, statement, params).all())
    return found


def _scoped(columns: tuple[str, str], key: str, *where: Any) -> Any:
    """SELECT ``columns`` of the key's organization and mode whose ``key`` is in ``_in``."""
    table: Table = XapiStatement.__table__  # type: ignore[assignment]
    return select(*(table.c[name] for name in columns)).where(
        table.c.organization_id == bindparam("_org"),
        table.c.livemode == bindparam("_live"),
        table.c[key].in_(bindparam("_in", expanding=True)),
        *where,
    )


# Built once with parameters: every request runs it, and building it cost more than running it.
@cache
def _existing_sql() -> Any:
    return _scoped(("statement_id", "body_hash"), "statement_id")


def _conflict(statement_id: uuid.UUID) -> StatementConflict:
    return StatementConflict(
        f"statement {statement_id} was already stored with different content; "
        "statements are immutable: send a new id for a new statement"
    )


def _check_voiding_targets(session: Session, actor: Actor, fresh: list[_New]) -> None:
    """A voiding statement cannot be voided (xAPI: the LRS refuses it)."""
    targets = {
        uuid.UUID(item.statement["object"]["id"]): item
        for item in fresh
        if is_voiding(item.statement)
    }
    if not targets:
        return
    voiding_in_batch = {item.statement_id for item in fresh if is_voiding(item.statement)}
    stored_voiding = set(
        session.scalars(
            select(XapiStatement.statement_id).where(
                XapiStatement.organization_id == actor.organization_id,
                XapiStatement.livemode == actor.livemode,
                XapiStatement.statement_id.in_(list(targets)),
                XapiStatement.verb == "http://adlnet.gov/expapi/verbs/voided",
            )
        )
    )
    for target, item in targets.items():
        if target in voiding_in_batch or target in stored_voiding:
            raise StatementInvalid(
                [
                    {
                        "statement": item.index,
                        "field": "object.id",
                        "message": f"statement {target} is itself a voiding statement; "
                        "a voiding statement cannot be voided",
                    }
                ]
            )


def _voided_before(session: Session, actor: Actor, fresh: list[_New]) -> dict[uuid.UUID, uuid.UUID]:
    """Statements of this request that a stored voiding statement already names (a voiding
    statement may arrive before its target, xAPI Data 2.3.2, e.g. from a forwarding LRS):
    target id → voiding statement id."""
    wanted = [str(item.statement_id) for item in fresh if not is_voiding(item.statement)]
    rows = _rows_for(session, actor, _voided_before_sql(), wanted)
    return {uuid.UUID(target): voiding for target, voiding in rows}


@cache
def _voided_before_sql() -> Any:
    # Voiding statements are stored without a registration and with the target's canonical id
    # as object_id, so this is a look-up in ix_xapi_statements_registration.
    return _scoped(
        ("object_id", "statement_id"),
        "object_id",
        XapiStatement.registration.is_(None),
        XapiStatement.verb == VOIDED,
    )


def _apply_move_on(session: Session, actor: Actor, fresh: list[_New]) -> None:
    """Decide cmi5 AU results by the AU's moveOn (from its ``launched`` statement).

    Progress is per (registration, AU, learner), from defined statements stored earlier plus
    the earlier ones of this request, in order. A result that makes moveOn met counts as the
    completion it reports; before that, and without a known moveOn, it is progress only.
    """
    relevant = [
        item
        for item in fresh
        if item.reading is not None
        and cmi5.is_defined(item.statement)
        and _registration(item.statement) is not None
    ]
    if not any(item.reading is not None and item.reading.cmi5_au for item in relevant):
        return
    registrations = {_registration(item.statement) for item in relevant}
    criteria: dict[tuple[Any, ...], cmi5.MoveOn] = {}
    progress: dict[tuple[Any, ...], cmi5.Progress] = {}
    rows = session.scalars(
        select(XapiStatement).where(
            XapiStatement.organization_id == actor.organization_id,
            XapiStatement.livemode == actor.livemode,
            XapiStatement.registration.in_(registrations),
            XapiStatement.verb.in_([cmi5.LAUNCHED, cmi5.COMPLETED, cmi5.PASSED]),
            XapiStatement.voided.is_(False),
        )
    )
    for statement in sealing.open_many(
        session, sealing.XAPI_STATEMENT, [row.statement_sealed for row in rows]
    ):
        if statement is not None:  # None: sealed for a learner since erased
            _observe(statement, criteria, progress)
    for item in relevant:
        key = _au_key(item.statement)
        before = progress.get(key, cmi5.Progress())
        reading = item.reading
        assert reading is not None
        if reading.cmi5_au:
            after = before.after(reading.verb)
            criterion = criteria.get(key)
            if criterion is None:
                note = (
                    "cmi5: moveOn unknown (no launched statement with the moveOn extension "
                    "for this registration); the course counts when the LMS sends satisfied"
                )
                item.reading = _with(reading, Outcome.in_progress, note)
            elif cmi5.satisfied(criterion, after):
                outcome = Outcome.passed if reading.verb == cmi5.PASSED else Outcome.completed
                item.reading = _with(reading, outcome, f"cmi5: moveOn {criterion} met")
            else:
                note = f"cmi5: moveOn {criterion} not met yet"
                item.reading = _with(reading, Outcome.in_progress, note)
        _observe(item.statement, criteria, progress)


def _with(reading: mapping.Reading, outcome: Outcome, note: str) -> mapping.Reading:
    return mapping.Reading(
        learner=reading.learner,
        course=reading.course,
        outcome=outcome,
        score=reading.score,
        occurred_at=reading.occurred_at,
        verb=reading.verb,
        note=note,
        cmi5_au=reading.cmi5_au,
    )


def _registration(statement: dict[str, Any]) -> uuid.UUID | None:
    raw = (statement.get("context") or {}).get("registration")
    return uuid.UUID(raw) if raw else None


def _au_key(statement: dict[str, Any]) -> tuple[Any, ...]:
    return (
        _registration(statement),
        statement["object"].get("id"),
        mapping.learner_key(statement["actor"]),
    )


def _observe(
    statement: dict[str, Any],
    criteria: dict[tuple[Any, ...], cmi5.MoveOn],
    progress: dict[tuple[Any, ...], cmi5.Progress],
) -> None:
    if not cmi5.is_defined(statement):
        return  # cmi5 allowed statements never drive moveOn
    key = _au_key(statement)
    verb = statement["verb"]["id"]
    if verb == cmi5.LAUNCHED and (criterion := cmi5.move_on(statement)) is not None:
        criteria[key] = criterion
    elif verb in {cmi5.COMPLETED, cmi5.PASSED}:
        progress[key] = progress.get(key, cmi5.Progress()).after(verb)


def _ingest(session: Session, actor: Actor, fresh: list[_New]) -> list[events.Intake]:
    items: list[_New] = []
    completions: list[CompletionIn] = []
    for item in fresh:
        reading = item.reading
        if reading is None or reading.outcome is None:
            continue
        assert reading.learner is not None
        assert reading.course is not None
        completions.append(
            CompletionIn(
                event_id=str(item.statement_id),
                occurred_at=reading.occurred_at,
                outcome=reading.outcome,
                score=reading.score,
                learner=reading.learner,
                course=reading.course,
            )
        )
        items.append(item)
    if not completions:
        return []
    answers = events.ingest_many(
        session, actor, completions, source=SOURCE, payloads=[i.statement for i in items]
    )
    intakes: list[events.Intake] = []
    for item, answer in zip(items, answers, strict=True):
        if isinstance(answer, events.EventIdConflict):
            # The statement id was used for an event with another body: only a concurrent
            # request with this statement id can have done that.
            raise _conflict(item.statement_id)
        if isinstance(answer, AppError):
            raise StatementInvalid(
                [{"statement": item.index, "field": "(statement)", "message": _message(answer)}]
            )
        item.event_id = answer.event.id
        item.learner_id = answer.event.learner_id
        if not answer.replayed:
            intakes.append(answer)
    return intakes


def _message(error: AppError) -> str:
    detail = error.detail
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        first = detail[0]
        name = {"occurred_at": "timestamp"}.get(first.get("field", ""), first.get("field"))
        return f"{name} {first.get('message')}"
    return str(detail)


_STATEMENTS: Table = XapiStatement.__table__  # type: ignore[assignment]
_STATEMENT_KEY = ("organization_id", "livemode", "statement_id")


def _insert(session: Session, actor: Actor, fresh: list[_New], now: datetime) -> None:
    rows = [
        {
            "id": uuid7(),
            "organization_id": actor.organization_id,
            "livemode": actor.livemode,
            "created_at": now,
            "statement_id": item.statement_id,
            "body_hash": item.digest,
            "verb": item.statement["verb"]["id"],
            "learner_key": mapping.learner_key(item.statement["actor"]),
            "object_id": _object_id(item.statement),
            # A voiding statement belongs to no cmi5 registration; without one it is found
            # by its target (see _voided_before_sql).
            "registration": None if is_voiding(item.statement) else _registration(item.statement),
            "voided": item.voided_by is not None,
            "event_id": item.event_id,
            "outcome": item.reading.outcome if item.reading else None,
            "note": _note(item)[:500],
            "statement": {},
            "statement_sealed": token,
            "attachments_sealed": kept,
        }
        for item, token, kept in zip(
            fresh,
            sealing.seal_many(
                session,
                actor.organization_id,
                sealing.XAPI_STATEMENT,
                [(item.learner_id, item.statement) for item in fresh],
            ),
            _sealed_parts(session, actor, fresh),
            strict=True,
        )
    ]
    # kit.sql's insert: on SQLite the driver's executemany instead of a RETURNING statement
    # whose every value passes SQLAlchemy's bind processing (a tenth of an array's storing).
    went_in = insert_rows(session, _STATEMENTS, rows, _STATEMENT_KEY)
    inserted = {row["statement_id"] for row in rows if row["id"] in went_in}
    lost = [item for item in fresh if item.statement_id not in inserted]
    if lost:
        # A concurrent request stored some of these ids first (it has committed: the insert
        # waited for it). The same content is a replay; other content is a conflict.
        winners = _existing(session, actor, [item.statement_id for item in lost])
        for item in lost:
            if winners.get(item.statement_id) != item.digest:
                raise _conflict(item.statement_id)


def _sealed_parts(session: Session, actor: Actor, fresh: list[_New]) -> list[str | None]:
    """Each statement's attachment content, sealed under the same key as the statement."""
    if not any(item.parts for item in fresh):
        return [None] * len(fresh)
    return sealing.seal_many(
        session,
        actor.organization_id,
        sealing.XAPI_ATTACHMENTS,
        [(item.learner_id, seal_form(item.parts)) for item in fresh],
    )


def _object_id(statement: dict[str, Any]) -> str | None:
    """The object's id; a voiding statement's target in its canonical form (lower case)."""
    found: str | None = statement["object"].get("id")
    if found is not None and is_voiding(statement):
        return str(uuid.UUID(found))
    return found


def _note(item: _New) -> str:
    if item.voided_by is not None:
        return f"voided on arrival: voiding statement {item.voided_by} was stored before it"
    return item.reading.note if item.reading else "voiding"


def _void(session: Session, actor: Actor, item: _New) -> None:
    """Mark the target voided; cancel its rewards not yet issued, open reviews for the rest."""
    target_id = uuid.UUID(item.statement["object"]["id"])
    target = session.scalar(
        select(XapiStatement)
        .where(
            XapiStatement.organization_id == actor.organization_id,
            XapiStatement.livemode == actor.livemode,
            XapiStatement.statement_id == target_id,
        )
        .with_for_update()
    )
    details: dict[str, Any] = {"voided": str(target_id), "voiding": str(item.statement_id)}
    if target is None:
        details["result"] = "unknown statement"
    elif target.voided:
        details["result"] = "already voided"
    else:
        session.execute(
            update(XapiStatement)
            .where(XapiStatement.id == target.id, XapiStatement.voided.is_(False))
            .values(voided=True)
            .execution_options(synchronize_session=False)
        )
        details["result"] = "voided"
        if target.event_id is not None:
            found = rewards.for_events(session, actor.organization_id, [target.event_id])
            details["rewards"] = [
                _settle(session, actor, reward, target_id, item.statement_id)
                for reward in found[target.event_id]
            ]
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="xapi:statement:void",
        target_type="xapi_statement",
        target_id=str(target_id),
        details=details,
    )


def _settle(
    session: Session, actor: Actor, reward: Reward, voided: uuid.UUID, voiding: uuid.UUID
) -> dict[str, str]:
    reason = f"xAPI statement {voided} voided by {voiding}"
    if reward.state in _CANCELLABLE:
        try:
            rewards.cancel(session, actor, reward.id, reason)
        except rewards.InvalidTransition:
            # A worker claimed it between our read and the cancel: it may be paid now.
            session.refresh(reward)
        else:
            return {"reward_id": str(reward.id), "action": "cancelled"}
    if reward.state in _REVIEWABLE:
        opened = insert_ignore(
            session,
            XapiReview.__table__,  # type: ignore[arg-type]
            {
                "id": uuid7(),
                "organization_id": actor.organization_id,
                "livemode": actor.livemode,
                "created_at": utcnow(),
                "reward_id": reward.id,
                "voided_statement_id": voided,
                "voiding_statement_id": voiding,
                "reward_state": reward.state,
                "state": ReviewState.open,
                "reason": f"{reason} after the reward was {reward.state}",
            },
            ["reward_id", "voided_statement_id"],
        )
        if opened:
            audit.record(
                session,
                organization_id=actor.organization_id,
                actor=actor.name,
                action="xapi:review:open",
                target_type="reward",
                target_id=reward.id,
                details={
                    "voided": str(voided),
                    "voiding": str(voiding),
                    "reward_state": reward.state,
                },
            )
        return {"reward_id": str(reward.id), "action": "review"}
    return {"reward_id": str(reward.id), "action": f"none ({reward.state})"}


def list_reviews(
    session: Session, actor: Actor, *, limit: int, cursor: uuid.UUID | None
) -> Page[XapiReview]:
    query = select(XapiReview).where(
        XapiReview.organization_id == actor.organization_id,
        XapiReview.livemode == actor.livemode,
    )
    return paginate(session, query, XapiReview.id, limit=limit, cursor=cursor)


def get_statement(session: Session, actor: Actor, statement_id: uuid.UUID) -> XapiStatement | None:
    return session.scalar(
        select(XapiStatement).where(
            XapiStatement.organization_id == actor.organization_id,
            XapiStatement.livemode == actor.livemode,
            XapiStatement.statement_id == statement_id,
        )
    )
