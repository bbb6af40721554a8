"""Reward lifecycle. Every state change is one UPDATE guarded by the expected current state.

``transition`` is the only way a reward's state moves: two workers or two reviewers racing on the
same reward cannot both move it, because the second UPDATE matches no row.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Select, Table, bindparam, func, or_, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.dml import ReturningUpdate

from laurel.audit import service as audit
from laurel.budgets import service as budgets
from laurel.delivery.providers import OWN_CHANNELS
from laurel.kit.actor import Actor
from laurel.kit.canonical import canonical_json
from laurel.kit.clock import utcnow
from laurel.kit.errors import Conflict, NotFound
from laurel.kit.ids import uuid7
from laurel.kit.money import Money
from laurel.kit.observe import chunks
from laurel.kit.orm import from_row
from laurel.kit.pagination import Page, paginate
from laurel.kit.sql import driver_execute, insert_rows, unindexed, write_rows
from laurel.learners import service as learners
from laurel.notifications import service as notifications
from laurel.programs import holdout
from laurel.programs import rules as rules_engine
from laurel.programs import service as programs
from laurel.programs.models import DeliveryModel, ProgramVersion, RewardRuleVersion
from laurel.rewards import gates
from laurel.rewards.models import Reward, RewardState
from laurel.webhooks import service as webhooks

READY_SIGNAL = "laurel.rewards.ready"
NOTIFY_CHANNEL = "laurel_rewards_ready"

_STAMP = {
    RewardState.ready: "ready_at",
    RewardState.issuing: "issuing_at",
    RewardState.delivered: "delivered_at",
    RewardState.failed: "failed_at",
    RewardState.cancelled: "cancelled_at",
}


class RewardNotFound(NotFound):
    code = "reward_not_found"


class InvalidTransition(Conflict):
    code = "invalid_transition"


def transition(
    session: Session,
    reward: Reward,
    expected: RewardState | Iterable[RewardState],
    new: RewardState,
    *,
    actor: str,
    details: dict[str, Any] | None = None,
    **values: Any,
) -> bool:
    """Move ``reward`` to ``new`` if still in ``expected``; False when someone else moved it."""
    moved = transition_many(
        session, [reward], expected, new, actor=actor, details=details, **values
    )
    return bool(moved)


def transition_many(
    session: Session,
    rewards: Sequence[Reward],
    expected: RewardState | Iterable[RewardState],
    new: RewardState,
    *,
    actor: str,
    details: dict[str, Any] | None = None,
    **values: Any,
) -> list[Reward]:
    """``transition`` for many rewards with the same values: one guarded UPDATE per chunk.
    Answers the rewards that moved; the others were moved by someone else first."""
    if not rewards:
        return []
    allowed = [expected] if isinstance(expected, RewardState) else list(expected)
    now = utcnow()
    stamp = _STAMP.get(new)
    if stamp:
        values.setdefault(stamp, now)
    moved_ids: set[uuid.UUID] = set()
    stmt = _transition_statement(tuple(sorted(values)))
    params = {f"_{k}": v for k, v in values.items()}
    params |= {"_state": new, "_updated_at": now, "_allowed": allowed}
    for part in chunks(rewards):
        moved_ids.update(
            write_rows(session, stmt, params | {"_ids": [r.id for r in part]}).scalars()
        )
    moved = [r for r in rewards if r.id in moved_ids]
    changes = {"state": new, "updated_at": now, **values}
    for reward in moved:
        previous = reward.state
        # Keep the object in step with the row without another SELECT.
        for key, value in changes.items():
            set_committed_value(reward, key, value)
        audit.record(
            session,
            organization_id=reward.organization_id,
            actor=actor,
            action=f"rewards:reward:{new}",
            target_type="reward",
            target_id=reward.id,
            details={"from": previous, **(details or {})},
        )
    if moved and new is RewardState.ready:
        signal_ready(session)
    if moved:
        # The outbox rows go in this transaction: committed with the change, or not at all.
        notifications.reward_changed(session, moved, new)
        webhooks.reward_changed(session, moved, new)
        for listener in listeners():
            listener(session, moved, new, actor)
    return moved


Listener = Callable[[Session, Sequence[Reward], RewardState, str], None]
"""Told of every state change, in the same transaction: (session, rewards moved, new state,
actor). A listener must be cheap for rewards it does not care about."""
_LISTENERS: list[Listener] = []
_DEFAULT_LISTENERS = ("laurel.points.marketplace",)
_listeners_loaded: list[bool] = []


def listen(listener: Listener) -> None:
    _LISTENERS.append(listener)


def listeners() -> list[Listener]:
    """The listeners; the built-in ones register on first use, whatever the entry point."""
    if not _listeners_loaded:
        _listeners_loaded.append(True)
        for module in _DEFAULT_LISTENERS:
            importlib.import_module(module)
    return _LISTENERS


@cache
def _transition_statement(names: tuple[str, ...]) -> ReturningUpdate[tuple[uuid.UUID]]:
    return (
        update(_REWARDS)
        .where(
            _REWARDS.c.id.in_(bindparam("_ids", expanding=True)),
            # The ids find the rows; the state only guards them (see kit.sql.unindexed).
            unindexed(_REWARDS.c.state).in_(bindparam("_allowed", expanding=True)),
        )
        .values(
            state=bindparam("_state"),
            updated_at=bindparam("_updated_at"),
            **{name: bindparam(f"_{name}") for name in names},
        )
        .returning(_REWARDS.c.id)
    )


def signal_ready(session: Session) -> None:
    """Wake workers after commit: in this process directly, in others through NOTIFY."""
    if not session.info.get(READY_SIGNAL):
        session.info[READY_SIGNAL] = True
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))


# ---------------------------------------------------------------- deciding


@dataclass(frozen=True, slots=True)
class Decision:
    program_id: uuid.UUID
    program_key: str
    result: str
    """rewarded | duplicate | not_eligible | no_matching_rule | holdout | override_refused"""
    reason: str | None = None
    reward_id: uuid.UUID | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Decision:
        reward_id = data.get("reward_id")
        return cls(
            program_id=uuid.UUID(data["program_id"]),
            program_key=data["program_key"],
            result=data["result"],
            reason=data.get("reason"),
            reward_id=uuid.UUID(reward_id) if reward_id else None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "program_id": str(self.program_id),
            "program_key": self.program_key,
            "result": self.result,
            "reason": self.reason,
            "reward_id": str(self.reward_id) if self.reward_id else None,
        }


@dataclass(frozen=True, slots=True)
class EventFacts:
    event_id: uuid.UUID
    organization_id: uuid.UUID
    livemode: bool
    learner_id: uuid.UUID
    course_id: uuid.UUID
    received_at: datetime
    subject: rules_engine.Subject
    new_learner: bool = False
    """First seen in this unit of work: no reward can name the learner yet."""
    amount_override: Money | None = None
    """An amount a batch import set for this completion: it replaces the matching rule's value
    (never whether the completion pays). Checked against the program currency by the import."""


@dataclass(slots=True)
class Plan:
    """What a batch of events will produce, decided before anything is written: the events
    are stored with their decisions, then the rewards are created (they refer to the events)."""

    decisions: list[list[Decision]]
    """Per event, in order."""
    rewards: list[tuple[int, dict[str, Any]]]
    """(event index, reward row) for every reward to create, in order."""
    audit: dict[uuid.UUID, dict[str, Any]]


def plan(session: Session, facts: Sequence[EventFacts]) -> Plan:
    """Decide, for each event in order, one reward per program in force at most.

    A reward already made for the same learner, course, program and dedupe period (earlier, or
    by an event before this one in the batch) makes the event a duplicate for that program.
    """
    result = Plan([[] for _ in facts], [], {})
    if not facts:
        return result
    organization_id = facts[0].organization_id
    programs_set = programs.snapshot(session, organization_id)
    keys = {p.id: p.key for p in programs_set.programs}
    candidates: list[tuple[int, ProgramVersion, RewardRuleVersion]] = []
    for index, fact in enumerate(facts):
        subject = fact.subject
        for program in programs_set.in_force(subject.occurred_at):
            if program.eligible is not None:
                why_not = program.eligible(subject)
                if why_not is not None:
                    result.decisions[index].append(
                        Decision(
                            program.program_id, keys[program.program_id], "not_eligible", why_not
                        )
                    )
                    continue
            rule = next((r for r, test in program.rules if test is None or test(subject)), None)
            if rule is None:
                result.decisions[index].append(
                    Decision(program.program_id, keys[program.program_id], "no_matching_rule")
                )
                continue
            candidates.append((index, program.version, rule))
    if not candidates:
        return result
    taken = _rewarded(
        session,
        facts[0],
        {
            (version.program_id, facts[i].learner_id, facts[i].course_id)
            for i, version, _ in candidates
            if not facts[i].new_learner
        },
    )
    control = _control_groups(session, facts, candidates)
    now = utcnow()
    for index, version, rule in candidates:
        fact = facts[index]
        key = keys[version.program_id]
        if control.get((version.program_id, fact.learner_id)):
            result.decisions[index].append(
                Decision(version.program_id, key, "holdout", "in the program's control group")
            )
            continue
        dedupe_key = rules_engine.dedupe_key(version.dedupe_period, fact.subject.occurred_at)
        slot = (version.program_id, fact.learner_id, fact.course_id, dedupe_key)
        if slot in taken:
            result.decisions[index].append(
                Decision(
                    version.program_id,
                    key,
                    "duplicate",
                    "already rewarded for this course in this period",
                )
            )
            continue
        valuation = programs_set.value(version, rule, fact.subject)
        override = fact.amount_override
        if override is not None and override.currency != valuation.amount.currency:
            # The import checks this first; kept so a mismatch can never pay in a wrong unit.
            result.decisions[index].append(
                Decision(
                    version.program_id,
                    key,
                    "override_refused",
                    f"the amount override is in {override.currency}; the program pays in "
                    f"{valuation.amount.currency}",
                )
            )
            continue
        taken.add(slot)
        amount = valuation.amount if override is None else override
        calculation = (
            valuation.calculation
            if override is None
            else {
                "kind": "override",
                "amount": override.format_amount(),
                "rule_amount": valuation.amount.format_amount(),
                "rule": valuation.calculation,
            }
        )
        reward_id = uuid7()
        result.decisions[index].append(
            Decision(version.program_id, key, "rewarded", None, reward_id)
        )
        result.rewards.append(
            (
                index,
                {
                    "id": reward_id,
                    "organization_id": fact.organization_id,
                    "livemode": fact.livemode,
                    "program_id": version.program_id,
                    "program_version_id": version.id,
                    "rule_id": rule.rule_id,
                    "rule_version_id": rule.id,
                    "learner_id": fact.learner_id,
                    "course_id": fact.course_id,
                    "event_id": fact.event_id,
                    "dedupe_key": dedupe_key,
                    "amount_minor": amount.minor,
                    "currency": amount.currency,
                    "reward_kind": version.reward_kind,
                    # Test mode never reaches a real provider; link programs deliver a link.
                    "provider": _delivered_by(version, fact.livemode),
                    "state": RewardState.pending,
                    "hold_reasons": [],
                    "calculation": calculation,
                    "attempts": 0,
                    "next_attempt_at": None,
                    "lease_expires_at": None,
                    "provider_reference": None,
                    "last_error": None,
                    "created_at": now,
                    "updated_at": now,
                    "ready_at": None,
                    "issuing_at": None,
                    "delivered_at": None,
                    "failed_at": None,
                    "cancelled_at": None,
                    "event_received_at": fact.received_at,
                },
            )
        )
        result.audit[reward_id] = {
            "event_id": str(fact.event_id),
            "program_version_id": str(version.id),
            "rule_version_id": str(rule.id),
            "amount": amount.format_amount(),
            "currency": amount.currency,
            "calculation": calculation,
        }
        if override is not None:
            result.audit[reward_id]["amount_override"] = override.to_json()
            result.audit[reward_id]["rule_amount"] = valuation.amount.to_json()
    return result


def _delivered_by(version: ProgramVersion, livemode: bool) -> str:
    """Test mode never reaches a real provider; link programs deliver a link; points are
    Laurel's own ledger (kept apart per mode), so test-mode points are credited to the
    test-mode books."""
    if version.delivery == DeliveryModel.link:
        return DeliveryModel.link.value
    return version.provider if livemode or version.provider in OWN_CHANNELS else "sandbox"


def _control_groups(
    session: Session,
    facts: Sequence[EventFacts],
    candidates: list[tuple[int, ProgramVersion, RewardRuleVersion]],
) -> dict[tuple[uuid.UUID, uuid.UUID], bool]:
    """Which candidates fall in a program's control group (only programs with a holdout)."""
    held = [
        holdout.Candidate(version.program_id, facts[index].learner_id, version.holdout_bps)
        for index, version, _ in candidates
        if version.holdout_bps
    ]
    if not held:
        return {}
    first = facts[0]
    return holdout.assign_many(session, first.organization_id, first.livemode, held)


_REWARDS: Table = Reward.__table__  # type: ignore[assignment]


# Slots already taken are looked up by exact (program, learner, course) triple, each a seek in
# the dedupe constraint's own index. An IN list per column let SQLite (without statistics) walk
# every reward of the organization instead: 65 ms a look-up at 480,000 rewards, paid by every
# group of single events and growing with the table. On SQLite each triple is its own arm of a
# UNION ALL, which no statistics can plan otherwise (a join against a VALUES list was planned
# with a Bloom filter built over the whole table once SQLite had statistics: 15 ms a look-up at
# 68,000 rewards); PostgreSQL joins a VALUES list. Sent through the driver: SQLAlchemy's
# per-execution work on hundreds of bound values cost more than the look-up itself.
_TRIPLES_PER_QUERY = 100  # SQLite allows 500 arms in one compound SELECT


@cache
def _rewarded_sql(count: int, dialect: str) -> str:
    """The look-up for ``count`` triples: on SQLite ``?`` placeholders, five an arm (organization,
    mode, program, learner, course); on PostgreSQL ``%s``, three a row, then organization, mode."""
    if dialect == "sqlite":
        arm = (
            "SELECT program_id, learner_id, course_id, dedupe_key FROM rewards "
            "WHERE organization_id = ? AND livemode = ? AND program_id = ? AND learner_id = ? "
            "AND course_id = ?"
        )
        return " UNION ALL ".join([arm] * count)
    wanted = ", ".join(["(%s, %s, %s)"] * count)
    return (
        f"WITH wanted (program_id, learner_id, course_id) AS (VALUES {wanted}) "  # noqa: S608 - placeholders only
        "SELECT r.program_id, r.learner_id, r.course_id, r.dedupe_key "
        "FROM wanted JOIN rewards AS r ON r.program_id = wanted.program_id "
        "AND r.learner_id = wanted.learner_id AND r.course_id = wanted.course_id "
        "WHERE r.organization_id = %s AND r.livemode = %s"
    )


_EMPTY_AT_CREATION = frozenset(
    {
        "next_attempt_at",
        "lease_expires_at",
        "provider_reference",
        "last_error",
        "ready_at",
        "issuing_at",
        "delivered_at",
        "failed_at",
        "cancelled_at",
    }
)
_DEDUPE = ("organization_id", "livemode", "program_id", "learner_id", "course_id", "dedupe_key")


def _rewarded(
    session: Session, fact: EventFacts, triples: set[tuple[uuid.UUID, uuid.UUID, uuid.UUID]]
) -> set[tuple[uuid.UUID, uuid.UUID, uuid.UUID, str]]:
    """The (program, learner, course, period) slots already rewarded for these (program,
    learner, course) triples in the fact's organization and mode."""
    slots: set[tuple[uuid.UUID, uuid.UUID, uuid.UUID, str]] = set()
    if not triples:
        return slots
    connection = session.connection()
    dialect = connection.dialect.name
    sent: dict[tuple[Any, ...], tuple[uuid.UUID, uuid.UUID, uuid.UUID]]
    if dialect == "sqlite":
        # Stored as 32 hex digits (SQLAlchemy's Uuid on SQLite); rows map back through the
        # triples sent rather than by parsing every id returned.
        sent = {(p.hex, lr.hex, c.hex): (p, lr, c) for p, lr, c in triples}
        scope: tuple[Any, ...] = (fact.organization_id.hex, fact.livemode)
    else:
        sent = {triple: triple for triple in triples}
        scope = (fact.organization_id, fact.livemode)
    keys = sorted(sent)
    for start in range(0, len(keys), _TRIPLES_PER_QUERY):
        part = keys[start : start + _TRIPLES_PER_QUERY]
        if dialect == "sqlite":
            params = [value for triple in part for value in (*scope, *triple)]
        else:
            params = [value for triple in part for value in triple]
            params += scope
        sql = _rewarded_sql(len(part), dialect)
        rows = (
            driver_execute(connection, sql, params)
            if dialect == "sqlite"
            else connection.exec_driver_sql(sql, tuple(params))
        )
        for program_id, learner_id, course_id, dedupe_key in rows:
            slots.add((*sent[program_id, learner_id, course_id], dedupe_key))
    return slots


def create_planned(
    session: Session, actor: Actor, planned: Plan, stored_events: set[uuid.UUID]
) -> tuple[list[list[Reward]], set[int]]:
    """Create the planned rewards of the events that were stored, then gate them.

    Answers the rewards per event and the indexes of events whose decisions changed: a
    concurrent transaction took a dedupe slot between planning and inserting (PostgreSQL).
    """
    made: list[list[Reward]] = [[] for _ in planned.decisions]
    rows = [(i, row) for i, row in planned.rewards if row["event_id"] in stored_events]
    if not rows:
        return made, set()
    table: Table = Reward.__table__  # type: ignore[assignment]
    # Columns that start empty are left out: fewer parameters to bind per row. Every planned
    # row has the same keys, so they are picked by one itemgetter (C) rather than per row.
    kept = tuple(k for k in rows[0][1] if k not in _EMPTY_AT_CREATION)
    pick = itemgetter(*kept)
    params = [dict(zip(kept, pick(row), strict=True)) for _, row in rows]
    inserted: set[uuid.UUID] = insert_rows(session, table, params, _DEDUPE)
    changed: set[int] = set()
    fresh: list[Reward] = []
    for index, row in rows:
        if row["id"] not in inserted:
            decisions = planned.decisions[index]
            for n, decision in enumerate(decisions):
                if decision.reward_id == row["id"]:
                    decisions[n] = Decision(
                        decision.program_id,
                        decision.program_key,
                        "duplicate",
                        "already rewarded for this course in this period",
                    )
            changed.add(index)
            continue
        reward = from_row(Reward, row)
        made[index].append(reward)
        fresh.append(reward)
        audit.record(
            session,
            organization_id=row["organization_id"],
            actor=actor.name,
            action="rewards:reward:create",
            target_type="reward",
            target_id=row["id"],
            details=planned.audit[row["id"]],
        )
    gates.note_new(session, (r.id for r in fresh))
    run_gates_many(session, fresh, actor=actor.name)
    return made, changed


def create_unearned(
    session: Session, actor: Actor, row: dict[str, Any], details: dict[str, Any]
) -> Reward:
    """Create and gate a reward no completion earned (a points redemption: ``event_id`` and
    ``course_id`` are None), exactly as planned rewards are."""
    table: Table = Reward.__table__  # type: ignore[assignment]
    params = {k: v for k, v in row.items() if k not in _EMPTY_AT_CREATION}
    insert_rows(session, table, [params], ["id"])
    reward = from_row(Reward, row)
    audit.record(
        session,
        organization_id=row["organization_id"],
        actor=actor.name,
        action="rewards:reward:create",
        target_type="reward",
        target_id=row["id"],
        details=details,
    )
    gates.note_new(session, [reward.id])
    run_gates_many(session, [reward], actor=actor.name)
    return reward


def run_gates(session: Session, reward: Reward, *, actor: str) -> RewardState:
    """Run the pipeline on a pending or held reward; it ends ready, held or cancelled."""
    return run_gates_many(session, [reward], actor=actor)[0]


def run_gates_many(session: Session, rewards: Sequence[Reward], *, actor: str) -> list[RewardState]:
    """``run_gates`` for many rewards: each gate judges them all at once, then the rewards move
    in one UPDATE per outcome."""
    holds: dict[uuid.UUID, list[dict[str, str | None]]] = {r.id: [] for r in rewards}
    rejected: dict[uuid.UUID, tuple[str, gates.GateResult]] = {}
    for gate in gates.pipeline():
        # Money is never reserved for a reward that is held anyway.
        todo = [
            r for r in rewards if r.id not in rejected and not (gate.commits_money and holds[r.id])
        ]
        if not todo:
            continue
        for reward, result in zip(todo, gates.check_many(gate, session, todo), strict=True):
            if result.verdict is gates.Verdict.reject:
                rejected[reward.id] = (gate.name, result)
            elif result.verdict is gates.Verdict.hold:
                holds[reward.id].append(
                    {"gate": gate.name, "reason": result.reason, "message": result.message}
                )
    for reward in rewards:
        if reward.id in rejected:
            gate_name, result = rejected[reward.id]
            budgets.release(session, reward.id)
            transition(
                session,
                reward,
                [RewardState.pending, RewardState.held],
                RewardState.cancelled,
                actor=actor,
                details={"gate": gate_name, "reason": result.reason},
                last_error=result.message,
                hold_reasons=[],
            )
    transition_many(
        session,
        [r for r in rewards if r.id not in rejected and not holds[r.id]],
        [RewardState.pending, RewardState.held],
        RewardState.ready,
        actor=actor,
        hold_reasons=[],
        next_attempt_at=None,
    )
    by_holds: dict[str, list[Reward]] = {}
    for reward in rewards:
        reasons = holds[reward.id]
        if reward.id in rejected or not reasons:
            continue
        if reward.state == RewardState.held and reward.hold_reasons == reasons:
            continue
        by_holds.setdefault(canonical_json(reasons), []).append(reward)
    for group in by_holds.values():
        reasons = holds[group[0].id]
        transition_many(
            session,
            group,
            [RewardState.pending, RewardState.held],
            RewardState.held,
            actor=actor,
            details={"reasons": [h["reason"] for h in reasons]},
            hold_reasons=reasons,
        )
    return [RewardState(r.state) for r in rewards]


def cancel(session: Session, actor: Actor, reward_id: uuid.UUID, reason: str) -> Reward:
    reward = get(session, actor, reward_id)
    moved = transition(
        session,
        reward,
        [RewardState.pending, RewardState.held, RewardState.ready],
        RewardState.cancelled,
        actor=actor.name,
        details={"reason": reason},
        last_error=reason,
    )
    if not moved:
        raise InvalidTransition(f"a {reward.state} reward cannot be cancelled")
    budgets.release(session, reward.id)
    return reward


def retry_failed(session: Session, actor: Actor, reward_id: uuid.UUID) -> Reward:
    """Give a failed reward another go: back through the gates (its budget was released)."""
    reward = get(session, actor, reward_id, lock=True)
    moved = transition(
        session,
        reward,
        RewardState.failed,
        RewardState.pending,
        actor=actor.name,
        details={"retry_of": reward.last_error},
        attempts=0,
        next_attempt_at=None,
        lease_expires_at=None,
    )
    if not moved:
        raise InvalidTransition(f"only failed rewards are retried; this one is {reward.state}")
    run_gates(session, reward, actor=actor.name)
    return reward


def retry_gates(session: Session, actor: Actor, reward_id: uuid.UUID) -> Reward:
    """Run a held reward's gates again (after a budget top-up, say)."""
    reward = get(session, actor, reward_id, lock=True)
    if reward.state != RewardState.held:
        raise InvalidTransition(f"only held rewards are re-checked; this one is {reward.state}")
    run_gates(session, reward, actor=actor.name)
    return reward


def release_held(
    session: Session,
    organization_id: uuid.UUID,
    program_id: uuid.UUID | None,
    reason: str,
    actor: str,
) -> int:
    """Re-run the gates of rewards held for ``reason`` (in a program, or in every program),
    oldest first, as one batch: each gate judges them as if one after the other."""
    query = select(Reward).where(
        Reward.organization_id == organization_id, Reward.state == RewardState.held
    )
    if program_id is not None:
        query = query.where(Reward.program_id == program_id)
    held = [
        r
        for r in session.scalars(query.order_by(Reward.id).with_for_update())
        if any(h.get("reason") == reason for h in r.hold_reasons)
    ]
    states = run_gates_many(session, held, actor=actor)
    return sum(state is RewardState.ready for state in states)


# ---------------------------------------------------------------- reading


def get(session: Session, actor: Actor, reward_id: uuid.UUID, *, lock: bool = False) -> Reward:
    query = select(Reward).where(
        Reward.organization_id == actor.organization_id,
        Reward.livemode == actor.livemode,
        Reward.id == reward_id,
    )
    query = _in_scope(query, actor)
    reward = session.scalar(query.with_for_update() if lock else query)
    if reward is None:
        raise RewardNotFound(f"no reward {reward_id}")
    return reward


@dataclass(frozen=True, slots=True)
class Earned:
    id: uuid.UUID
    learner_id: uuid.UUID
    amount_minor: int
    currency: str
    created_at: datetime


_NOT_PAID = (RewardState.cancelled, RewardState.failed)


def earned_by(
    session: Session,
    organization_id: uuid.UUID,
    livemode: bool,
    learner_ids: set[uuid.UUID],
    start: datetime,
    end: datetime,
) -> list[Earned]:
    """Rewards of these learners created in [start, end) that are paid or may still be
    (everything but cancelled and failed), oldest first; one query per 500 learners."""
    found: list[Earned] = []
    for part in chunks(sorted(learner_ids)):
        rows = session.execute(
            select(
                Reward.id,
                Reward.learner_id,
                Reward.amount_minor,
                Reward.currency,
                Reward.created_at,
            ).where(
                Reward.organization_id == organization_id,
                Reward.livemode == livemode,
                Reward.learner_id.in_(part),
                Reward.created_at >= start,
                Reward.created_at < end,
                Reward.state.not_in(_NOT_PAID),
            )
        )
        found.extend(Earned(*row) for row in rows)
    found.sort(key=lambda e: e.id)
    return found


def _in_scope(query: Select[Reward], actor: Actor) -> Select[Reward]:
    """A department manager sees its departments' learners' rewards, a learner only its own."""
    visible = learners.visible_ids(actor)
    return query if visible is None else query.where(Reward.learner_id.in_(visible))


def for_events(
    session: Session, organization_id: uuid.UUID, event_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[Reward]]:
    found: dict[uuid.UUID, list[Reward]] = {e: [] for e in event_ids}
    if not event_ids:
        return found
    for reward in session.scalars(
        select(Reward)
        .where(Reward.organization_id == organization_id, Reward.event_id.in_(event_ids))
        .order_by(Reward.id)
    ):
        if reward.event_id is not None:  # the query asked for events, but the type allows None
            found[reward.event_id].append(reward)
    return found


def list_rewards(
    session: Session,
    actor: Actor,
    *,
    limit: int,
    cursor: uuid.UUID | None,
    learner_id: uuid.UUID | None = None,
    program_id: uuid.UUID | None = None,
    state: RewardState | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
) -> Page[Reward]:
    query = select(Reward).where(
        Reward.organization_id == actor.organization_id, Reward.livemode == actor.livemode
    )
    query = _in_scope(query, actor)
    if learner_id is not None:
        query = query.where(Reward.learner_id == learner_id)
    if program_id is not None:
        query = query.where(Reward.program_id == program_id)
    if state is not None:
        query = query.where(Reward.state == state)
    if created_from is not None:
        query = query.where(Reward.created_at >= created_from)
    if created_to is not None:
        query = query.where(Reward.created_at < created_to)
    return paginate(session, query, Reward.id, limit=limit, cursor=cursor)


# ---------------------------------------------------------------- issuance (the worker's side)


def by_id(session: Session, reward_id: uuid.UUID) -> Reward | None:
    """For the worker, which acts for every organization; API callers use ``get``."""
    return session.get(Reward, reward_id)


def by_ids(session: Session, reward_ids: set[uuid.UUID]) -> dict[uuid.UUID, Reward]:
    """For the worker's outbox (one read per batch); API callers use ``get``."""
    found: dict[uuid.UUID, Reward] = {}
    for part in chunks(sorted(reward_ids)):
        found.update((r.id, r) for r in session.scalars(select(Reward).where(Reward.id.in_(part))))
    return found


def _skip_locked(session: Session, query: Select[Reward]) -> Select[Reward]:
    # PostgreSQL workers pass over rows another worker holds instead of waiting for them;
    # SQLite has one writer at a time anyway.
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


def claim_ready(session: Session, *, limit: int, lease_seconds: float, actor: str) -> list[Reward]:
    """Move up to ``limit`` due ready rewards to ``issuing``, leased to the caller."""
    now = utcnow()
    query = (
        select(Reward)
        .where(Reward.state == RewardState.ready)
        .where(or_(Reward.next_attempt_at.is_(None), Reward.next_attempt_at <= now))
        .order_by(Reward.id)
        .limit(limit)
    )
    lease = now + timedelta(seconds=lease_seconds)
    return [
        r
        for r in session.scalars(_skip_locked(session, query)).all()
        if transition(
            session,
            r,
            RewardState.ready,
            RewardState.issuing,
            actor=actor,
            details={"attempt": r.attempts + 1},
            lease_expires_at=lease,
            attempts=r.attempts + 1,
        )
    ]


def take_abandoned(session: Session, *, limit: int, lease_seconds: float) -> list[Reward]:
    """Issuing rewards whose lease ran out; taking one renews its lease for the caller only."""
    now = utcnow()
    query = (
        select(Reward)
        .where(Reward.state == RewardState.issuing, Reward.lease_expires_at < now)
        .order_by(Reward.id)
        .limit(limit)
    )
    lease = now + timedelta(seconds=lease_seconds)
    taken = []
    for reward in session.scalars(_skip_locked(session, query)).all():
        renewed = session.execute(
            update(Reward)
            .where(
                Reward.id == reward.id,
                Reward.state == RewardState.issuing,
                Reward.lease_expires_at < now,
            )
            .values(lease_expires_at=lease)
            .returning(Reward.id)
            .execution_options(synchronize_session=False)
        )
        if renewed.first() is not None:
            taken.append(reward)
    return taken


def next_retry_at(session: Session) -> datetime | None:
    return session.scalar(
        select(Reward.next_attempt_at)
        .where(Reward.state == RewardState.ready, Reward.next_attempt_at.is_not(None))
        .order_by(Reward.next_attempt_at)
        .limit(1)
    )


@dataclass(frozen=True, slots=True)
class Awaiting:
    id: uuid.UUID
    program_id: uuid.UUID
    reward_kind: str
    provider: str
    amount_minor: int


def awaiting_issue(
    session: Session, organization_id: uuid.UUID, currency: str, amounts: Iterable[int]
) -> list[Awaiting]:
    """Live rewards that passed their gates and wait for (or are in) issuance, with these
    amounts: what a stock of pre-bought codes must still cover."""
    rows = session.execute(
        select(
            Reward.id, Reward.program_id, Reward.reward_kind, Reward.provider, Reward.amount_minor
        ).where(
            Reward.organization_id == organization_id,
            Reward.livemode.is_(True),
            Reward.state.in_([RewardState.ready, RewardState.issuing]),
            Reward.currency == currency,
            Reward.amount_minor.in_(list(amounts)),
        )
    )
    return [Awaiting(*row) for row in rows]


def count_by_state(session: Session) -> list[tuple[str, bool, int]]:
    """(state, livemode, count) across the deployment, for metrics."""
    rows = session.execute(
        select(Reward.state, Reward.livemode, func.count()).group_by(Reward.state, Reward.livemode)
    )
    return [(state, live, count) for state, live, count in rows]
