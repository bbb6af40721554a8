"""Programs and rules: creation, versioned changes, and the snapshot decisions are made from."""

from __future__ import annotations

import uuid
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.budgets import service as budgets
from laurel.budgets.service import BudgetView
from laurel.kit import currency
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import Conflict, NotFound, field_error
from laurel.kit.money import Money
from laurel.kit.schemas import MoneyIn
from laurel.organizations import revision
from laurel.programs import rules as rules_engine
from laurel.programs import schemas
from laurel.programs.models import (
    DeliveryModel,
    Program,
    ProgramVersion,
    RewardKind,
    RewardRule,
    RewardRuleVersion,
)
from laurel.programs.templates import TEMPLATES, Template

# Clocks of API clients and servers drift; a change "from now" may arrive stamped a moment ago.
_SKEW = timedelta(seconds=5)
_SNAPSHOT = "laurel.programs.snapshot"


class ProgramNotFound(NotFound):
    code = "program_not_found"


class RuleNotFound(NotFound):
    code = "rule_not_found"


@dataclass(frozen=True, slots=True)
class ProgramView:
    program: Program
    version: ProgramVersion
    rules: list[RewardRuleVersion]
    budget: BudgetView | None


# ---------------------------------------------------------------- versions in force


def _effective(now: datetime, requested: datetime | None, field: str) -> datetime:
    if requested is None:
        return now
    if requested < now - _SKEW:
        raise field_error(field, "cannot be in the past: changes never apply retroactively")
    return max(requested, now)


def _in_force(versions: list[Any], at: datetime) -> Any | None:
    """The newest version (by number) whose ``effective_from`` has come by ``at``.

    A later change wins from its own effective time on: switching a program off now also
    cancels a change scheduled earlier for tomorrow, which would otherwise bring it back.
    """
    best = None
    for v in versions:
        if v.effective_from <= at and (best is None or v.version > best.version):
            best = v
    return best


def _current(versions: list[Any], at: datetime) -> Any:
    """In force now, or else the newest version (a program that starts later)."""
    found = _in_force(versions, at)
    return found if found is not None else max(versions, key=lambda v: v.version)


@dataclass(frozen=True, slots=True)
class InForce:
    """A program version in force, ready to decide events with (``ProgramSet.in_force``)."""

    version: ProgramVersion
    program_id: uuid.UUID
    eligible: rules_engine.Eligibility | None
    """Why a subject may not earn, or None; None itself: the program admits everyone."""
    rules: list[tuple[RewardRuleVersion, rules_engine.Conditions | None]]
    """Enabled rules in priority order, each with its conditions (None: matches everything)."""


@dataclass
class ProgramSet:
    """Every program and rule version of one organization, loaded once per unit of work."""

    programs: list[Program]
    versions: dict[uuid.UUID, list[ProgramVersion]]
    rules: dict[uuid.UUID, list[list[RewardRuleVersion]]]
    _boundaries: list[datetime] = field(default_factory=list, init=False, repr=False)
    _by_period: dict[int, list[tuple[ProgramVersion, list[RewardRuleVersion]]]] = field(
        default_factory=dict, init=False, repr=False
    )

    _values: dict[tuple[Any, ...], rules_engine.Valuation] = field(
        default_factory=dict, init=False, repr=False
    )
    _compiled: dict[int, list[InForce]] = field(default_factory=dict, init=False, repr=False)

    def value(
        self, version: ProgramVersion, rule: RewardRuleVersion, subject: rules_engine.Subject
    ) -> rules_engine.Valuation:
        """``rules.value_of``, remembered: a value depends on the rule, the program's segment
        factors and three facts of the subject, which repeat across thousands of events."""
        key = (
            rule.id,
            version.id,
            subject.course_importance,
            subject.course_duration_minutes,
            subject.classification,
        )
        found = self._values.get(key)
        if found is None:
            found = self._values[key] = rules_engine.value_of(
                rule.value, subject, version.segment_factors
            )
        return found

    def __post_init__(self) -> None:
        # What is in force changes only at an effective time: between two of them the answer
        # is the same, so it is worked out once per period instead of once per event.
        self._boundaries = sorted(
            {v.effective_from for vs in self.versions.values() for v in vs}
            | {r.effective_from for rvs in self.rules.values() for rs in rvs for r in rs}
        )

    def in_force(self, when: datetime) -> list[InForce]:
        """``at(when)`` with each program's eligibility and each rule's conditions turned into
        checks once (``rules.eligibility_check``, ``rules.conditions_check``): what deciding
        thousands of events reads for every event."""
        period = bisect_right(self._boundaries, when)
        found = self._compiled.get(period)
        if found is None:
            found = self._compiled[period] = [
                InForce(
                    version,
                    version.program_id,
                    rules_engine.eligibility_check(version.eligibility),
                    [(rule, rules_engine.conditions_check(rule.conditions)) for rule in rules],
                )
                for version, rules in self.at(when)
            ]
        return found

    def at(self, when: datetime) -> list[tuple[ProgramVersion, list[RewardRuleVersion]]]:
        """Programs in force at ``when`` with their enabled rules in priority order."""
        period = bisect_right(self._boundaries, when)
        found = self._by_period.get(period)
        if found is None:
            found = self._by_period[period] = self._compute(when)
        return found

    def _compute(self, when: datetime) -> list[tuple[ProgramVersion, list[RewardRuleVersion]]]:
        result = []
        for program in self.programs:
            version = _in_force(self.versions.get(program.id, []), when)
            if version is None or not version.active:
                continue
            rules = [
                r
                for r in (_in_force(vs, when) for vs in self.rules.get(program.id, []))
                if r is not None and r.enabled
            ]
            rules.sort(key=lambda r: (r.priority, r.rule_id))
            result.append((version, rules))
        return result


def snapshot(session: Session, organization_id: uuid.UUID) -> ProgramSet:
    """Every program and rule version of the organization, as of this transaction.

    Loading them is most of the cost of deciding an event, so a built set is shared across
    requests while the organization's ``config_revision`` is unchanged
    (:func:`revision.shared`). A transaction that changed the configuration itself never shares
    what it sees: it may still roll back.
    """
    cache: dict[uuid.UUID, ProgramSet] = session.info.setdefault(_SNAPSHOT, {})
    if organization_id not in cache:
        cache[organization_id] = revision.shared(
            session, organization_id, "programs", lambda: _load(session, organization_id)
        )
    return cache[organization_id]


def _load(session: Session, organization_id: uuid.UUID) -> ProgramSet:
    programs = list(
        session.scalars(
            select(Program).where(Program.organization_id == organization_id).order_by(Program.id)
        )
    )
    versions: dict[uuid.UUID, list[ProgramVersion]] = defaultdict(list)
    for pv in session.scalars(
        select(ProgramVersion).where(ProgramVersion.organization_id == organization_id)
    ):
        versions[pv.program_id].append(pv)
    by_rule: dict[uuid.UUID, list[RewardRuleVersion]] = defaultdict(list)
    for rv in session.scalars(
        select(RewardRuleVersion).where(RewardRuleVersion.organization_id == organization_id)
    ):
        by_rule[rv.rule_id].append(rv)
    rules: dict[uuid.UUID, list[list[RewardRuleVersion]]] = defaultdict(list)
    for rule_versions in by_rule.values():
        rules[rule_versions[0].program_id].append(rule_versions)
    # Detached, the rows keep their loaded values whatever this session does next (a
    # rollback would otherwise expire them under every request sharing them).
    for row in [
        *programs,
        *(v for vs in versions.values() for v in vs),
        *(rv for vs in by_rule.values() for rv in vs),
    ]:
        session.expunge(row)
    return ProgramSet(programs, dict(versions), dict(rules))


def _invalidate(session: Session, organization_id: uuid.UUID) -> None:
    """The configuration changed: a fresh revision every process checks; this transaction
    reads its own programs from now on."""
    revision.changed(session, organization_id)
    session.info.pop(_SNAPSHOT, None)


# ---------------------------------------------------------------- reading


def _program(session: Session, actor: Actor, program_id: uuid.UUID) -> Program:
    program = session.scalar(
        select(Program).where(
            Program.organization_id == actor.organization_id, Program.id == program_id
        )
    )
    if program is None:
        raise ProgramNotFound(f"no program {program_id}")
    return program


def _views(
    session: Session, organization_id: uuid.UUID, programs: list[Program]
) -> list[ProgramView]:
    programs_set = snapshot(session, organization_id)
    now = utcnow()
    budget_views = budgets.views(session, organization_id, [p.id for p in programs])
    views = []
    for program in programs:
        version = _current(programs_set.versions[program.id], now)
        rules = [_current(vs, now) for vs in programs_set.rules.get(program.id, [])]
        rules.sort(key=lambda r: (r.priority, r.rule_id))
        views.append(ProgramView(program, version, rules, budget_views.get(program.id)))
    return views


def get(session: Session, actor: Actor, program_id: uuid.UUID) -> ProgramView:
    return _views(session, actor.organization_id, [_program(session, actor, program_id)])[0]


def list_programs(session: Session, actor: Actor) -> list[ProgramView]:
    programs = list(
        session.scalars(
            select(Program)
            .where(Program.organization_id == actor.organization_id)
            .order_by(Program.key)
        )
    )
    return _views(session, actor.organization_id, programs)


def list_versions(session: Session, actor: Actor, program_id: uuid.UUID) -> list[ProgramVersion]:
    _program(session, actor, program_id)
    return list(
        session.scalars(
            select(ProgramVersion)
            .where(
                ProgramVersion.organization_id == actor.organization_id,
                ProgramVersion.program_id == program_id,
            )
            .order_by(ProgramVersion.version)
        )
    )


def approval_threshold(
    session: Session, organization_id: uuid.UUID, version_id: uuid.UUID
) -> int | None:
    """Minor units above which a reward of this program version waits for approval."""
    for versions in snapshot(session, organization_id).versions.values():
        for version in versions:
            if version.id == version_id:
                return version.approval_threshold_minor
    return session.scalar(
        select(ProgramVersion.approval_threshold_minor).where(
            ProgramVersion.organization_id == organization_id, ProgramVersion.id == version_id
        )
    )


def currencies_in_force(session: Session, organization_id: uuid.UUID, when: datetime) -> set[str]:
    """The currencies of the organization's programs in force at ``when`` (a batch import
    reads an amount override as exact money in them)."""
    return {version.currency for version, _ in snapshot(session, organization_id).at(when)}


def currency_of(session: Session, organization_id: uuid.UUID, program_id: uuid.UUID) -> str | None:
    """The currency a program pays in (it never changes); None for no such program. Read from
    the database: the program may have been created in this unit of work."""
    return session.scalar(
        select(ProgramVersion.currency)
        .where(
            ProgramVersion.organization_id == organization_id,
            ProgramVersion.program_id == program_id,
        )
        .limit(1)
    )


def owners(
    session: Session, organization_id: uuid.UUID, version_ids: set[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """Who configured each program version (``created_by``): the person a reward's money is
    asked for, as far as four-eyes approval is concerned. Empty when unknown."""
    found: dict[uuid.UUID, str] = {}
    for versions in snapshot(session, organization_id).versions.values():
        for version in versions:
            if version.id in version_ids:
                found[version.id] = version.created_by
    missing = version_ids - set(found)
    if missing:
        rows = session.execute(
            select(ProgramVersion.id, ProgramVersion.created_by).where(
                ProgramVersion.organization_id == organization_id,
                ProgramVersion.id.in_(missing),
            )
        )
        found.update({row[0]: row[1] for row in rows})
    return found


DEFAULT_APPROVAL_EXPIRY_DAYS = 14


def approval_expiry_days(
    session: Session, organization_id: uuid.UUID, version_ids: set[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """Days an undecided approval request of each program version waits before it expires."""
    found: dict[uuid.UUID, int] = {}
    for versions in snapshot(session, organization_id).versions.values():
        for version in versions:
            if version.id in version_ids:
                found[version.id] = version.approval_expiry_days
    missing = version_ids - set(found)
    if missing:
        rows = session.execute(
            select(ProgramVersion.id, ProgramVersion.approval_expiry_days).where(
                ProgramVersion.organization_id == organization_id,
                ProgramVersion.id.in_(missing),
            )
        )
        found.update({row[0]: row[1] for row in rows})
    return found


def eligibility_of(
    session: Session, organization_id: uuid.UUID, version_id: uuid.UUID
) -> dict[str, Any]:
    """The eligibility settings of the program version that decided a reward."""
    for versions in snapshot(session, organization_id).versions.values():
        for version in versions:
            if version.id == version_id:
                return version.eligibility
    found = session.scalar(
        select(ProgramVersion.eligibility).where(
            ProgramVersion.organization_id == organization_id, ProgramVersion.id == version_id
        )
    )
    return found or {}


def list_templates() -> list[Template]:
    return list(TEMPLATES.values())


# ---------------------------------------------------------------- writing


def _money_minor(money: MoneyIn | None, program_currency: str, field: str) -> int | None:
    if money is None:
        return None
    value = money.to_money()
    if value.currency != program_currency:
        raise field_error(field, f"must be in the program currency {program_currency}")
    return value.minor


def _check_rule_currency(
    rule: schemas.RuleCreate | schemas.RuleUpdate, program_currency: str, field: str
) -> None:
    value = rule.value
    if value is None:
        return
    money = value.amount if isinstance(value, schemas.FixedValue) else value.base
    if money.currency != program_currency:
        where = f"{field}.value" if field else "value"
        raise field_error(where, f"must be in the program currency {program_currency}")


def _template_fields(template: Template, org_currency: str) -> dict[str, Any]:
    code = template.currency or org_currency
    return {
        "name": template.name,
        "currency": code,
        "dedupe_period": template.dedupe_period,
        "delivery": template.delivery,
        "reward_kind": template.reward_kind,
        "eligibility": {"classifications": list(template.classifications)},
        "approval_threshold_minor": (
            Money.parse(template.approval_threshold, code).minor
            if template.approval_threshold
            else None
        ),
    }


def template_rule(template: Template, code: str) -> schemas.RuleCreate:
    def amount(text: str) -> MoneyIn:
        places = currency.exponent(code)
        whole = text.split(".", maxsplit=1)[0]
        return MoneyIn(amount=f"{whole}.{'0' * places}" if places else whole, currency=code)

    return schemas.RuleCreate(
        name=f"{template.name} (template)",
        conditions=schemas.RuleConditions(
            course_types=list(template.course_types),
            outcomes=list(template.outcomes),
        ),
        value=schemas.FourFactorValue(base=amount(template.low), cap=amount(template.high)),
    )


def create_program(
    session: Session,
    actor: Actor,
    data: schemas.ProgramCreate,
    org_currency: str,
    providers: Collection[str] | None = None,
) -> ProgramView:
    """Create a program (version 1) with its rules and budget.

    ``providers`` are the provider names this deployment has; when given, a program naming
    another one is refused now rather than failing every reward later.
    """
    now = utcnow()
    effective_from = _effective(now, data.effective_from, "effective_from")
    if (
        session.scalar(
            select(Program.id).where(
                Program.organization_id == actor.organization_id, Program.key == data.key
            )
        )
        is not None
    ):
        raise Conflict(f"program {data.key!r} already exists")
    fields: dict[str, Any] = {"currency": org_currency}
    template = None
    if data.template is not None:
        template = TEMPLATES.get(data.template)
        if template is None:
            raise field_error("template", f"unknown template; use one of {', '.join(TEMPLATES)}")
        fields.update(_template_fields(template, org_currency))
    explicit = data.model_dump(
        exclude_unset=True,
        mode="json",
        exclude={"key", "template", "budget", "rules", "effective_from", "approval_threshold"},
    )
    fields.update({k: v for k, v in explicit.items() if v is not None})
    if "name" not in fields:
        raise field_error("name", "a program needs a name (or a template)")
    code = fields["currency"]
    if not currency.is_known(code):
        raise field_error("currency", f"{code!r} is not an ISO 4217 code")
    if data.approval_threshold is not None:
        fields["approval_threshold_minor"] = _money_minor(
            data.approval_threshold, code, "approval_threshold"
        )
    _check_kind(fields)
    _check_provider(fields, providers)
    program = Program(organization_id=actor.organization_id, key=data.key)
    session.add(program)
    session.flush()
    version = ProgramVersion(
        organization_id=actor.organization_id,
        program_id=program.id,
        version=1,
        effective_from=effective_from,
        template=data.template,
        created_by=actor.name,
        **fields,
    )
    session.add(version)
    session.flush()
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="programs:program:create",
        target_type="program",
        target_id=program.id,
        details={
            "key": data.key,
            "version": 1,
            "template": data.template,
            "effective_from": effective_from.isoformat(),
            "config": _config(version),
        },
    )
    if data.budget is not None:
        budget = data.budget.to_money()
        _money_minor(data.budget, code, "budget")
        budgets.set_limit(
            session,
            organization_id=actor.organization_id,
            program_id=program.id,
            limit=budget,
            actor=actor.name,
        )
    rules = data.rules
    if rules is None and template is not None:
        rules = [template_rule(template, code)]
    for index, rule in enumerate(rules or []):
        _check_rule_currency(rule, code, f"rules[{index}]")
        # Rules created with the program start with it, not before.
        start = rule.effective_from or effective_from
        _add_rule(
            session, actor, program.id, rule.model_copy(update={"effective_from": start}), now
        )
    _invalidate(session, actor.organization_id)
    return get(session, actor, program.id)


def _check_kind(fields: dict[str, Any]) -> None:
    is_points = fields["currency"] == currency.POINTS
    if is_points != (fields.get("reward_kind") == RewardKind.points):
        raise field_error("reward_kind", "points programs use currency PTS and kind points")
    if is_points:
        fields["delivery"] = DeliveryModel.points
        # Points are delivered into Laurel's own ledger (laurel.points.provider).
        fields["provider"] = "points"


def _check_provider(fields: dict[str, Any], providers: Collection[str] | None) -> None:
    name = fields.get("provider", "sandbox")
    if providers is not None and name not in providers:
        raise field_error("provider", f"no provider {name!r}; configured: {', '.join(providers)}")


def _config(version: ProgramVersion) -> dict[str, Any]:
    return {
        "name": version.name,
        "active": version.active,
        "currency": version.currency,
        "dedupe_period": version.dedupe_period,
        "delivery": version.delivery,
        "reward_kind": version.reward_kind,
        "provider": version.provider,
        "approval_threshold_minor": version.approval_threshold_minor,
        "approval_expiry_days": version.approval_expiry_days,
        "eligibility": version.eligibility,
        "segment_factors": version.segment_factors,
        "holdout_bps": version.holdout_bps,
    }


def update_program(
    session: Session,
    actor: Actor,
    program_id: uuid.UUID,
    data: schemas.ProgramUpdate,
    providers: Collection[str] | None = None,
) -> ProgramView:
    program = _program(session, actor, program_id)
    now = utcnow()
    effective_from = _effective(now, data.effective_from, "effective_from")
    versions = list(
        session.scalars(
            select(ProgramVersion)
            .where(ProgramVersion.program_id == program.id)
            .order_by(ProgramVersion.version)
            .with_for_update()
        )
    )
    # The new version starts from what would be in force when it takes effect.
    base = _current(versions, effective_from)
    fields = _config(base)
    changes = data.model_dump(
        exclude_unset=True, mode="json", exclude={"budget", "effective_from", "approval_threshold"}
    )
    fields.update(changes)
    if "approval_threshold" in data.model_fields_set:
        fields["approval_threshold_minor"] = _money_minor(
            data.approval_threshold, fields["currency"], "approval_threshold"
        )
    if fields["currency"] != base.currency:
        raise field_error("currency", "a program's currency cannot change; create a new program")
    _check_kind(fields)
    _check_provider(fields, providers)
    version = base
    if fields != _config(base):
        version = ProgramVersion(
            organization_id=actor.organization_id,
            program_id=program.id,
            version=versions[-1].version + 1,
            effective_from=effective_from,
            template=base.template,
            created_by=actor.name,
            **fields,
        )
        session.add(version)
        session.flush()
        audit.record(
            session,
            organization_id=actor.organization_id,
            actor=actor.name,
            action="programs:program:update",
            target_type="program",
            target_id=program.id,
            details={
                "version": version.version,
                "effective_from": effective_from.isoformat(),
                "changed": sorted(k for k in fields if fields[k] != _config(base)[k]),
                "config": _config(version),
            },
        )
    if data.budget is not None:
        _money_minor(data.budget, fields["currency"], "budget")
        budgets.set_limit(
            session,
            organization_id=actor.organization_id,
            program_id=program.id,
            limit=data.budget.to_money(),
            actor=actor.name,
        )
        # Rewards waiting for money get it in the order they were earned.
        from laurel.budgets.gate import BUDGET_EXHAUSTED  # noqa: PLC0415 - import cycle
        from laurel.rewards import service as rewards  # noqa: PLC0415 - import cycle

        rewards.release_held(
            session, actor.organization_id, program.id, BUDGET_EXHAUSTED, actor.name
        )
    _invalidate(session, actor.organization_id)
    view = get(session, actor, program.id)
    return ProgramView(view.program, version, view.rules, view.budget)


def _add_rule(
    session: Session, actor: Actor, program_id: uuid.UUID, data: schemas.RuleCreate, now: datetime
) -> RewardRuleVersion:
    effective_from = _effective(now, data.effective_from, "effective_from")
    rule = RewardRule(organization_id=actor.organization_id, program_id=program_id)
    session.add(rule)
    session.flush()
    version = RewardRuleVersion(
        organization_id=actor.organization_id,
        rule_id=rule.id,
        program_id=program_id,
        version=1,
        effective_from=effective_from,
        name=data.name,
        priority=data.priority,
        enabled=data.enabled,
        conditions=data.conditions.model_dump(mode="json"),
        value=data.value.model_dump(mode="json"),
        created_by=actor.name,
    )
    session.add(version)
    session.flush()
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="programs:rule:create",
        target_type="rule",
        target_id=rule.id,
        details={
            "program_id": str(program_id),
            "version": 1,
            "effective_from": effective_from.isoformat(),
            "priority": data.priority,
            "enabled": data.enabled,
            "conditions": version.conditions,
            "value": version.value,
        },
    )
    return version


def create_rule(
    session: Session, actor: Actor, program_id: uuid.UUID, data: schemas.RuleCreate
) -> RewardRuleVersion:
    view = get(session, actor, program_id)
    _check_rule_currency(data, view.version.currency, "")
    version = _add_rule(session, actor, program_id, data, utcnow())
    _invalidate(session, actor.organization_id)
    return version


def _rule_versions(
    session: Session, actor: Actor, rule_id: uuid.UUID, lock: bool = False
) -> list[RewardRuleVersion]:
    query = (
        select(RewardRuleVersion)
        .where(
            RewardRuleVersion.organization_id == actor.organization_id,
            RewardRuleVersion.rule_id == rule_id,
        )
        .order_by(RewardRuleVersion.version)
    )
    versions = list(session.scalars(query.with_for_update() if lock else query))
    if not versions:
        raise RuleNotFound(f"no rule {rule_id}")
    return versions


def get_rule(session: Session, actor: Actor, rule_id: uuid.UUID) -> RewardRuleVersion:
    return _current(_rule_versions(session, actor, rule_id), utcnow())  # type: ignore[no-any-return]


def list_rules(session: Session, actor: Actor, program_id: uuid.UUID) -> list[RewardRuleVersion]:
    return get(session, actor, program_id).rules


def update_rule(
    session: Session, actor: Actor, rule_id: uuid.UUID, data: schemas.RuleUpdate
) -> RewardRuleVersion:
    versions = _rule_versions(session, actor, rule_id, lock=True)
    now = utcnow()
    effective_from = _effective(now, data.effective_from, "effective_from")
    base = _current(versions, effective_from)
    program_currency = _current(
        list(
            session.scalars(
                select(ProgramVersion).where(ProgramVersion.program_id == base.program_id)
            )
        ),
        now,
    ).currency
    _check_rule_currency(data, program_currency, "")
    fields = {
        "name": base.name,
        "priority": base.priority,
        "enabled": base.enabled,
        "conditions": base.conditions,
        "value": base.value,
    }
    for key in ("name", "priority", "enabled"):
        if key in data.model_fields_set and getattr(data, key) is not None:
            fields[key] = getattr(data, key)
    if data.conditions is not None:
        fields["conditions"] = data.conditions.model_dump(mode="json")
    if data.value is not None:
        fields["value"] = data.value.model_dump(mode="json")
    changed = sorted(k for k, v in fields.items() if getattr(base, k) != v)
    if not changed:
        return base  # type: ignore[no-any-return]
    version = RewardRuleVersion(
        organization_id=actor.organization_id,
        rule_id=rule_id,
        program_id=base.program_id,
        version=versions[-1].version + 1,
        effective_from=effective_from,
        created_by=actor.name,
        **fields,
    )
    session.add(version)
    session.flush()
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="programs:rule:update",
        target_type="rule",
        target_id=rule_id,
        details={
            "version": version.version,
            "changed": changed,
            "effective_from": effective_from.isoformat(),
            "conditions": version.conditions,
            "value": version.value,
            "priority": version.priority,
            "enabled": version.enabled,
        },
    )
    _invalidate(session, actor.organization_id)
    return version


def rule_history(session: Session, actor: Actor, rule_id: uuid.UUID) -> list[RewardRuleVersion]:
    return _rule_versions(session, actor, rule_id)
